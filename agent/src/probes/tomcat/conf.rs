//! Tomcat's XML configuration: `server.xml` (connectors, valves, hosts,
//! the user database), `web.xml` (error pages, directory listings),
//! context descriptors (valves) and `tomcat-users.xml` (users, roles and
//! facts about their passwords, never the passwords).
//!
//! Each file is read under the host root within [`MAX_XML_BYTES`] and
//! parsed by roxmltree with a node limit (entity expansion is bounded by
//! roxmltree itself); an error names the file and, for XML, the line.

use super::root::resolve;
use gamsa_proto::v1::{TomcatConnector, TomcatUser, TomcatValve};
use roxmltree::{Document, Node, ParsingOptions};
use std::path::Path;

/// Most bytes read from one XML file (Tomcat's own conf/web.xml is 175 KB).
pub const MAX_XML_BYTES: u64 = 4 * 1024 * 1024;
/// Most XML nodes parsed from one file.
const MAX_NODES: u32 = 200_000;
/// Most entries kept from one file (connectors, valves, users, hosts).
const MAX_ITEMS: usize = 1000;

/// The text of `host` (a path on the host) under `root`, bounded.
pub fn read(root: &Path, host: &str, limit: u64) -> Result<String, String> {
    let local = resolve(root, host)?;
    let bytes = read_bytes(&local, limit).map_err(|e| format!("{host}: {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("{host}: not UTF-8 text"))
}

/// At most `limit` bytes of a file; more is an error.
pub fn read_bytes(local: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(local)?
        .take(limit + 1)
        .read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::other(format!("larger than {limit} bytes")));
    }
    Ok(buf)
}

/// `text` parsed as XML; an error names `host` and the line.
pub fn parse<'a>(text: &'a str, host: &str) -> Result<Document<'a>, String> {
    let options = ParsingOptions {
        allow_dtd: true,
        nodes_limit: MAX_NODES,
        ..Default::default()
    };
    Document::parse_with_options(text, options).map_err(|e| format!("{host}: {e}"))
}

fn children<'a, 'i>(n: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
        .take(MAX_ITEMS)
}

fn text_of(n: Node, name: &str) -> String {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
        .and_then(|c| c.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A `<Valve>` element as evidence.
pub fn valve(n: Node, scope: &str, file: &str) -> TomcatValve {
    TomcatValve {
        scope: scope.to_string(),
        class_name: n.attribute("className").unwrap_or("").to_string(),
        attributes: n
            .attributes()
            .filter(|a| a.name() != "className")
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect(),
        file: file.to_string(),
    }
}

/// The valves of a context descriptor (`<Context>` root).
pub fn context_valves(doc: &Document, scope: &str, file: &str) -> Vec<TomcatValve> {
    children(doc.root_element(), "Valve")
        .map(|v| valve(v, scope, file))
        .collect()
}

/// A `<Host>` of server.xml.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEntry {
    pub engine: String,
    pub name: String,
    /// As written: relative to CATALINA_BASE or absolute.
    pub app_base: String,
}

/// What server.xml says.
#[derive(Debug, Default)]
pub struct Server {
    pub connectors: Vec<TomcatConnector>,
    pub valves: Vec<TomcatValve>,
    pub hosts: Vec<HostEntry>,
    /// The UserDatabase file as written ("conf/tomcat-users.xml").
    pub users_file: Option<String>,
    pub passwords_digested: bool,
}

/// Reads server.xml's document.
pub fn server(doc: &Document, file: &str) -> Server {
    let mut s = Server::default();
    let top = doc.root_element();
    for g in children(top, "GlobalNamingResources") {
        for r in children(g, "Resource") {
            let factory = r.attribute("factory").unwrap_or("");
            if factory.ends_with("MemoryUserDatabaseFactory")
                || r.attribute("type")
                    .is_some_and(|t| t.ends_with("UserDatabase"))
            {
                s.users_file = Some(
                    r.attribute("pathname")
                        .unwrap_or("conf/tomcat-users.xml")
                        .to_string(),
                );
            }
        }
    }
    s.passwords_digested = top.descendants().take(MAX_NODES as usize).any(|n| {
        n.is_element()
            && (n.tag_name().name() == "CredentialHandler"
                || (n.tag_name().name() == "Realm" && n.attribute("digest").is_some()))
    });
    for service in children(top, "Service") {
        for c in children(service, "Connector") {
            s.connectors.push(connector(c));
        }
        for engine in children(service, "Engine") {
            let engine_name = engine.attribute("name").unwrap_or("Catalina").to_string();
            for v in children(engine, "Valve") {
                s.valves.push(valve(v, "Engine", file));
            }
            for h in children(engine, "Host") {
                let name = h.attribute("name").unwrap_or("localhost").to_string();
                for v in children(h, "Valve") {
                    s.valves.push(valve(v, &format!("Host {name}"), file));
                }
                s.hosts.push(HostEntry {
                    engine: engine_name.clone(),
                    name,
                    app_base: h.attribute("appBase").unwrap_or("webapps").to_string(),
                });
            }
        }
    }
    s
}

fn connector(c: Node) -> TomcatConnector {
    let host_configs: Vec<String> = children(c, "SSLHostConfig")
        .filter_map(|h| h.attribute("protocols").or(h.attribute("sslProtocol")))
        .map(str::to_string)
        .collect();
    let ssl_protocols = if host_configs.is_empty() {
        [
            c.attribute("sslEnabledProtocols"),
            c.attribute("sslProtocol"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",")
    } else {
        host_configs.join(",")
    };
    TomcatConnector {
        port: c
            .attribute("port")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0),
        protocol: c.attribute("protocol").unwrap_or("HTTP/1.1").to_string(),
        ssl_enabled: c
            .attribute("SSLEnabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        ssl_protocols,
        address: c.attribute("address").unwrap_or("").to_string(),
    }
}

/// What a `web.xml` says: its error pages and DefaultServlet `listings`.
#[derive(Debug, Default, PartialEq)]
pub struct WebXml {
    /// "404 /error.jsp", "java.lang.Throwable /error.jsp".
    pub error_pages: Vec<String>,
    /// The DefaultServlet's listings init-param as written; None when unset.
    pub listings: Option<String>,
}

pub fn web_xml(doc: &Document) -> WebXml {
    let top = doc.root_element();
    let error_pages = children(top, "error-page")
        .map(|e| {
            let what = [text_of(e, "error-code"), text_of(e, "exception-type")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| "default".into());
            format!("{what} {}", text_of(e, "location"))
        })
        .collect();
    let listings = children(top, "servlet")
        .filter(|s| text_of(*s, "servlet-class") == "org.apache.catalina.servlets.DefaultServlet")
        .flat_map(|s| children(s, "init-param").collect::<Vec<_>>())
        .filter(|p| text_of(*p, "param-name") == "listings")
        .map(|p| text_of(p, "param-value").to_ascii_lowercase())
        .last();
    WebXml {
        error_pages,
        listings,
    }
}

/// Roles that administer Tomcat through the manager and host-manager
/// applications (and the Tomcat 6 names).
const ADMIN_ROLES: &[&str] = &[
    "manager-gui",
    "manager-script",
    "manager-jmx",
    "manager-status",
    "admin-gui",
    "admin-script",
    "manager",
    "admin",
];

/// Passwords that ship with Tomcat, its documentation and common
/// tutorials, compared case-insensitively.
const KNOWN_DEFAULTS: &[&str] = &[
    "tomcat",
    "admin",
    "manager",
    "password",
    "s3cret",
    "secret",
    "changeit",
    "changeme",
    "<must-be-changed>",
    "role1",
    "both",
    "root",
    "123456",
    "12345678",
    "qwerty",
    "tomcat123",
    "admin123",
    "passw0rd",
];

/// The users of a `tomcat-users.xml` document. `digested`: server.xml
/// stores passwords as digests, so only an empty one can be judged.
pub fn users(doc: &Document, digested: bool) -> Vec<TomcatUser> {
    children(doc.root_element(), "user")
        .map(|u| {
            let name = u
                .attribute("username")
                .or(u.attribute("name"))
                .unwrap_or("")
                .to_string();
            let roles: Vec<String> = u
                .attribute("roles")
                .unwrap_or("")
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect();
            let admin = roles.iter().any(|r| ADMIN_ROLES.contains(&r.as_str()));
            let password_state =
                password_state(&name, u.attribute("password").unwrap_or(""), digested);
            TomcatUser {
                name,
                roles,
                admin,
                password_state: password_state.into(),
            }
        })
        .collect()
}

/// What can be said of a password without saying it.
pub fn password_state(name: &str, password: &str, digested: bool) -> &'static str {
    if password.is_empty() {
        return "empty";
    }
    if digested {
        return "digest";
    }
    if password.eq_ignore_ascii_case(name) {
        return "equals_name";
    }
    let lower = password.to_lowercase();
    if KNOWN_DEFAULTS.contains(&lower.as_str()) {
        return "known_default";
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .into_iter()
    .filter(|x| *x)
    .count();
    if password.chars().count() < 8 || classes < 3 {
        return "weak";
    }
    "set"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_described_never_kept() {
        assert_eq!(password_state("admin", "", false), "empty");
        assert_eq!(password_state("admin", "ADMIN", false), "equals_name");
        assert_eq!(password_state("ops", "s3cret", false), "known_default");
        assert_eq!(password_state("ops", "abcdefgh", false), "weak");
        assert_eq!(password_state("ops", "Ab1!", false), "weak");
        assert_eq!(password_state("ops", "Tr0ub4dor&3x", false), "set");
        assert_eq!(password_state("ops", "tomcat", true), "digest");
    }

    #[test]
    fn web_xml_error_pages_and_listings() {
        let text = r#"<web-app><servlet><servlet-name>default</servlet-name>
            <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
            <init-param><param-name>listings</param-name><param-value>True</param-value></init-param>
            </servlet><error-page><error-code>404</error-code><location>/404.html</location></error-page>
            <error-page><exception-type>java.lang.Throwable</exception-type><location>/e.jsp</location></error-page></web-app>"#;
        let w = web_xml(&parse(text, "/w.xml").unwrap());
        assert_eq!(w.listings.as_deref(), Some("true"));
        assert_eq!(
            w.error_pages,
            ["404 /404.html", "java.lang.Throwable /e.jsp"]
        );
        let e = parse("<a><b></a>", "/conf/server.xml").unwrap_err();
        assert!(
            e.starts_with("/conf/server.xml: ") && e.contains("1:"),
            "{e}"
        );
    }
}
