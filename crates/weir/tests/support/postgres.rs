//! A private PostgreSQL server for one test: `initdb` in a temporary directory, `postgres` on a
//! free port with its socket in that directory, stopped and started again on the same port at
//! will. The binaries come from `$WEIR_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`, or
//! `/usr/local/bin`. `initdb` and `postgres` refuse to run as root: when the tests run as root,
//! both run as the `postgres` user (`runuser -u postgres --`), and the directories they use
//! are handed to that user. Queries go through `psql` over TCP as the superuser `weir` (trust
//! authentication: the server listens on 127.0.0.1 only).
#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A running (or stopped) private server.
pub struct Postgres {
    _root: tempfile::TempDir,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    sock: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Extra `-c name=value` settings.
    settings: Vec<String>,
    as_postgres: bool,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("WEIR_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("postgres").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin"))
}

fn id_of(flag: &str) -> u32 {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .expect("run id");
    assert!(
        out.status.success(),
        "there is no `postgres` user to run the server as"
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("numeric id")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    /// Initialises and starts a server with `max_prepared_transactions` set (fsync off: the
    /// tests are about weir's guarantees, not the disk's).
    pub fn start() -> Postgres {
        Self::start_with(&[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ])
    }

    /// Like [`Postgres::start`] with these `name=value` settings instead of the fast ones.
    pub fn start_with(settings: &[&str]) -> Postgres {
        let root = tempfile::tempdir().expect("temp dir");
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod root");
        let data = root.path().join("data");
        let sock = root.path().join("sock");
        let log = root.path().join("postgres.log");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::create_dir(&sock).expect("socket dir");
        std::fs::write(&log, "").expect("log file");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        if as_postgres {
            let (uid, gid) = (id_of("-u"), id_of("-g"));
            for p in [&data, &sock, &log] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut settings: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
        settings.push("max_prepared_transactions=64".into());
        settings.push("max_connections=100".into());
        let pg = Postgres {
            bin: bin_dir(),
            data,
            log,
            sock,
            port: free_port(),
            settings,
            as_postgres,
            _root: root,
        };
        let out = pg
            .server_cmd("initdb")
            .args([
                "-U",
                "weir",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ])
            .arg(&pg.data)
            .output()
            .expect("run initdb");
        check("initdb", &out);
        pg.start_again();
        let out = pg.psql_on("postgres", "CREATE DATABASE app");
        check("create database", &out);
        pg
    }

    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the (stopped) server again on the same port and waits until it accepts queries.
    pub fn start_again(&self) {
        let opts = {
            let mut o = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.sock.display()
            );
            for s in &self.settings {
                o.push_str(&format!(" -c {s}"));
            }
            o
        };
        let out = self
            .server_cmd("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-o", &opts])
            .output()
            .expect("run pg_ctl start");
        check("pg_ctl start", &out);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.psql_on("postgres", "SELECT 1").status.success() {
            assert!(
                Instant::now() < deadline,
                "postgres did not accept queries; its log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: `fast` (sessions are disconnected, clean shutdown) or `immediate`.
    pub fn stop(&self, mode: &str) {
        let out = self
            .server_cmd("pg_ctl")
            .args(["stop", "-w", "-t", "60", "-m", mode, "-D"])
            .arg(&self.data)
            .output()
            .expect("run pg_ctl stop");
        check("pg_ctl stop", &out);
    }

    /// `postgres://weir@127.0.0.1:<port>/app`.
    pub fn url(&self) -> String {
        format!("postgres://weir@127.0.0.1:{}/app", self.port)
    }

    fn psql_on(&self, db: &str, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "weir",
            ])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .expect("run psql")
    }

    /// Runs `sql` in database `app`; its unaligned output without the trailing newline.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.psql_on("app", sql);
        check(&format!("psql -c {sql:?}"), &out);
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// Like [`Postgres::psql`], `None` when it fails (server down, table missing).
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        let out = self.psql_on("app", sql);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// A single number from `sql`.
    pub fn count(&self, sql: &str) -> u64 {
        let text = self.psql(sql);
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{sql} returned {text:?}: {e}"))
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The directory of the server binaries (and `psql`).
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server_cmd("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
    }
}
