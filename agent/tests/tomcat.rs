//! The `tomcat` probe on Debian's real Tomcat 10 (packages tomcat10,
//! tomcat10-admin, tomcat10-examples: tests/run.sh installs them) and on
//! hostile CATALINA_BASE directories: what it reads must match what the
//! package installed, and bad input must cost an error naming the file,
//! within bounded time, never a panic or a pass.

use gamsa_agent::probes::tomcat::{observe, Config};
use gamsa_proto::v1::TomcatInstance;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn config(paths: &[&str]) -> Config {
    Config {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        processes: false,
        ..Config::default()
    }
}

fn only(root: &Path, base: &str) -> TomcatInstance {
    let t = observe(root, &config(&[base])).unwrap();
    assert_eq!(t.instances.len(), 1, "{t:?}");
    t.instances.into_iter().next().unwrap()
}

/// The upstream part of the installed tomcat10 package's version.
fn dpkg_version() -> String {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "tomcat10"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tomcat10 must be installed (tests/run.sh)"
    );
    let v = String::from_utf8(out.stdout).unwrap();
    v.split(['-', '+', '~']).next().unwrap().to_string()
}

#[test]
fn debian_tomcat10_as_installed() {
    let i = only(Path::new("/"), "/var/lib/tomcat10");
    assert_eq!(i.home, "/usr/share/tomcat10");
    // The version in catalina.jar is the package's upstream version.
    assert_eq!(i.version, dpkg_version(), "{:?}", i.notices);
    assert_eq!(i.version_source, "lib/catalina.jar");
    assert_eq!(i.branch, "10.1");
    assert_eq!(i.server_xml_error, "");
    assert_eq!(i.web_xml_error, "");
    assert_eq!(i.users_error, "");
    assert!(i
        .connectors
        .iter()
        .any(|c| c.port == 8080 && !c.ssl_enabled));
    assert!(i
        .server_valves
        .iter()
        .any(|v| v.class_name.ends_with("AccessLogValve") && v.scope == "Host localhost"));
    // Every sample user of Debian's tomcat-users.xml is commented out.
    assert!(i.users.is_empty(), "{:?}", i.users);
    assert_eq!(i.users_file, "/var/lib/tomcat10/conf/tomcat-users.xml");
    let users = i
        .config_files
        .iter()
        .find(|f| f.path == i.users_file)
        .unwrap();
    assert_eq!(
        (users.mode, users.owner.as_str(), users.group.as_str()),
        (0o640, "root", "tomcat")
    );
    assert!(!i.listings);
    assert!(i.error_pages.is_empty());
    // tomcat10-admin's context descriptors live in conf/Catalina/localhost and
    // take precedence over the application's META-INF/context.xml (which
    // holds a RemoteCIDRValve): as installed, the manager is not restricted.
    let manager = i.apps.iter().find(|a| a.name == "manager").unwrap();
    assert_eq!(
        manager.descriptor,
        "/var/lib/tomcat10/conf/Catalina/localhost/manager.xml"
    );
    assert_eq!(manager.doc_base, "/usr/share/tomcat10-admin/manager");
    assert!(!manager
        .valves
        .iter()
        .any(|v| v.class_name.contains("Remote")));
    let sample = |n: &str| {
        i.apps
            .iter()
            .find(|a| a.name == n)
            .map(|a| a.sample.clone())
    };
    assert_eq!(sample("examples").as_deref(), Some("examples"));
    assert_eq!(sample("ROOT").as_deref(), Some("default ROOT page"));
    assert_eq!(sample("host-manager").as_deref(), Some(""));
    assert!(i.source_walk_complete && i.source_entries_checked > 50);
    assert!(i.source_writable_by_others.is_empty());
    let logs = &i.log_dirs[0];
    assert_eq!(
        (logs.path.as_str(), logs.mode),
        ("/var/lib/tomcat10/logs", 0o2770)
    );
    assert!(i.notices.is_empty(), "{:?}", i.notices);
}

/// A fixture root with passwd and group, and a CATALINA_BASE at /srv/t.
fn fixture() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(r.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::create_dir_all(r.join("srv/t/conf")).unwrap();
    std::fs::create_dir_all(r.join("srv/t/webapps/app")).unwrap();
    std::fs::write(
        r.join("srv/t/conf/server.xml"),
        r#"<Server><Service><Connector port="8443" SSLEnabled="true"><SSLHostConfig protocols="+SSLv3,+TLSv1.2"/></Connector>
        <Engine name="Catalina"><Host name="localhost" appBase="webapps"/></Engine></Service></Server>"#,
    )
    .unwrap();
    std::fs::write(
        r.join("srv/t/conf/tomcat-users.xml"),
        r#"<tomcat-users><user username="admin" password="admin" roles="manager-gui"/><user username="ops" password="tomcat" roles="manager-script"/><user username="app" password="" roles="role1"/></tomcat-users>"#,
    )
    .unwrap();
    t
}

#[test]
fn users_are_described_without_their_passwords() {
    let t = fixture();
    let i = only(t.path(), "/srv/t");
    let users: Vec<(&str, bool, &str)> = i
        .users
        .iter()
        .map(|u| (u.name.as_str(), u.admin, u.password_state.as_str()))
        .collect();
    assert_eq!(
        users,
        [
            ("admin", true, "equals_name"),
            ("ops", true, "known_default"),
            ("app", false, "empty")
        ]
    );
    let json = serde_json::to_string(&i).unwrap();
    assert!(!json.contains("\"tomcat\""), "a password leaked: {json}");
    assert_eq!(i.connectors[0].ssl_protocols, "+SSLv3,+TLSv1.2");
    // No conf/web.xml: an error naming it, not "no listings".
    assert!(
        i.web_xml_error.starts_with("/srv/t/conf/web.xml: "),
        "{}",
        i.web_xml_error
    );
}

#[test]
fn hostile_files_are_errors_naming_them_in_bounded_time() {
    let t = fixture();
    let r = t.path();
    let conf = r.join("srv/t/conf");
    // server.xml of 5 MiB, web.xml of binary bytes, an entity bomb as the
    // users file, a symlink loop for context.xml.
    let mut huge = String::from("<Server>");
    while huge.len() < 5 * 1024 * 1024 {
        huge.push_str("<Listener className=\"x\"/>\n");
    }
    std::fs::write(conf.join("server.xml"), huge).unwrap();
    std::fs::write(
        conf.join("web.xml"),
        [0xff, 0xfe, 0, 1, 2, 0x80].repeat(1000),
    )
    .unwrap();
    let mut bomb = String::from("<?xml version=\"1.0\"?><!DOCTYPE t [<!ENTITY a \"aaaaaaaaaa\">");
    for n in 1..12 {
        bomb.push_str(&format!(
            "<!ENTITY a{n} \"{}\">",
            format!("&a{};", n - 1).repeat(10)
        ));
    }
    bomb = bomb.replace("&a0;", "&a;");
    bomb.push_str("]><tomcat-users><user username=\"&a11;\"/></tomcat-users>");
    std::fs::write(conf.join("tomcat-users.xml"), bomb).unwrap();
    symlink("context.xml", conf.join("context.xml")).unwrap();
    // A catalina.jar that is no zip.
    std::fs::create_dir_all(r.join("srv/t/lib")).unwrap();
    std::fs::write(r.join("srv/t/lib/catalina.jar"), b"PK\x03\x04 not a jar").unwrap();

    let start = Instant::now();
    let i = only(r, "/srv/t");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        i.server_xml_error.starts_with("/srv/t/conf/server.xml: ")
            && i.server_xml_error.contains("larger than"),
        "{}",
        i.server_xml_error
    );
    assert!(
        i.web_xml_error.starts_with("/srv/t/conf/web.xml: ") && i.web_xml_error.contains("UTF-8"),
        "{}",
        i.web_xml_error
    );
    assert!(
        i.users_error.starts_with("/srv/t/conf/tomcat-users.xml: "),
        "{}",
        i.users_error
    );
    assert!(i.users.is_empty());
    assert!(
        i.notices
            .iter()
            .any(|n| n.contains("/srv/t/conf/context.xml") && n.contains("symbolic links")),
        "{:?}",
        i.notices
    );
    assert!(
        i.notices
            .iter()
            .any(|n| n.contains("catalina.jar") && n.contains("not a readable jar")),
        "{:?}",
        i.notices
    );
    assert_eq!(i.version, "");
    // server.xml unread: no hosts, so the default appBase is not walked;
    // the facts that need it are marked by server_xml_error.
    assert!(i.apps.is_empty());
}

#[test]
fn application_files_are_walked_without_following_links() {
    let t = fixture();
    let r = t.path();
    symlink(".", r.join("srv/t/webapps/app/loop")).unwrap();
    let page = r.join("srv/t/webapps/app/index.jsp");
    std::fs::write(&page, "x").unwrap();
    std::fs::set_permissions(&page, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::create_dir_all(r.join("srv/t/webapps/app/WEB-INF/lib")).unwrap();
    std::fs::write(
        r.join("srv/t/webapps/app/WEB-INF/lib/struts2-core-2.5.30.jar"),
        b"",
    )
    .unwrap();
    let i = only(r, "/srv/t");
    assert!(i.source_walk_complete);
    assert_eq!(
        i.source_writable_by_others,
        ["/srv/t/webapps/app/index.jsp"]
    );
    let app = i.apps.iter().find(|a| a.name == "app").unwrap();
    assert_eq!(app.struts[0].version, "2.5.30");
    assert_eq!(app.struts[0].version_number, 2_005_030);
}
