//! Who acts on the collector — a dashboard user, an API token or the
//! command line — and what each may do. Roles are decided here alone: the
//! operations ask an actor whether it may write, never compare role names.

use std::fmt;
use std::str::FromStr;

/// A user's or API token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Operator,
    /// Reads and exports everything, changes nothing.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// Attestations, NA marks, snapshots, agent control: admins and operators.
    pub fn may_write(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Who looked at what: admins only.
    pub fn may_read_access_log(self) -> bool {
        self == Role::Admin
    }

    /// Tokens, users and agents' reinstatement: admins only.
    pub fn may_manage_credentials(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("role {0:?}: expected admin, operator or auditor")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Ok(match s {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "auditor" => Role::Auditor,
            _ => return Err(UnknownRole(s.to_string())),
        })
    }
}

/// Who asks for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in dashboard user.
    User { name: String, role: Role },
    /// An API bearer token.
    Token { name: String, role: Role },
    /// Whoever runs the command line: it has the store itself, so it may
    /// do everything.
    Cli { login: String },
}

impl Actor {
    /// The user running this process, for the command line's records.
    pub fn cli() -> Actor {
        let login = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| format!("uid-{}", own_uid()));
        Actor::Cli { login }
    }

    /// The bare name: what attestations and NA marks say they are by.
    pub fn name(&self) -> &str {
        match self {
            Actor::User { name, .. } | Actor::Token { name, .. } => name,
            Actor::Cli { login } => login,
        }
    }

    /// How the access log and snapshots name the actor: "user:lee",
    /// "token:ci", "cli:root".
    pub fn who(&self) -> String {
        let kind = match self {
            Actor::User { .. } => "user",
            Actor::Token { .. } => "token",
            Actor::Cli { .. } => "cli",
        };
        format!("{kind}:{}", self.name())
    }

    /// The role as the access log records it; "cli" for the command line.
    pub fn role_name(&self) -> &'static str {
        match self {
            Actor::User { role, .. } | Actor::Token { role, .. } => role.as_str(),
            Actor::Cli { .. } => "cli",
        }
    }

    pub fn may_write(&self) -> bool {
        match self {
            Actor::User { role, .. } | Actor::Token { role, .. } => role.may_write(),
            Actor::Cli { .. } => true,
        }
    }

    pub fn may_read_access_log(&self) -> bool {
        match self {
            Actor::User { role, .. } | Actor::Token { role, .. } => role.may_read_access_log(),
            Actor::Cli { .. } => true,
        }
    }

    pub fn may_manage_credentials(&self) -> bool {
        match self {
            Actor::User { role, .. } | Actor::Token { role, .. } => role.may_manage_credentials(),
            Actor::Cli { .. } => true,
        }
    }
}

pub(crate) fn own_uid() -> u32 {
    // The owner of /proc/self is the calling user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_and_operators_write_and_only_admins_read_the_access_log() {
        let table: Vec<(Role, bool, bool)> = ["admin", "operator", "auditor"]
            .iter()
            .map(|r| r.parse::<Role>().unwrap())
            .map(|r| (r, r.may_write(), r.may_read_access_log()))
            .collect();
        assert_eq!(
            table,
            [
                (Role::Admin, true, true),
                (Role::Operator, true, false),
                (Role::Auditor, false, false)
            ]
        );
        let e = "Admin".parse::<Role>().unwrap_err().to_string();
        assert_eq!(e, "role \"Admin\": expected admin, operator or auditor");
        let kim = Actor::User {
            name: "kim".into(),
            role: Role::Auditor,
        };
        assert_eq!((kim.who(), kim.role_name()), ("user:kim".into(), "auditor"));
        assert!(!kim.may_write());
        let cli = Actor::Cli {
            login: "root".into(),
        };
        assert_eq!((cli.who(), cli.role_name()), ("cli:root".into(), "cli"));
        assert!(cli.may_write() && cli.may_read_access_log());
    }
}
