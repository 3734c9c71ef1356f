//! A throwaway PostgreSQL server for the tests that need one: `initdb` into a new directory
//! under `/tmp`, started by `pg_ctl` on a free port of 127.0.0.1 with its socket in the same
//! directory, stopped and removed when the test process ends.
//!
//! The server binaries are found on the `PATH` or in Debian's `/usr/lib/postgresql/<v>/bin`
//! (`.ci/run` installs Debian's `postgresql` when they are missing). When the tests run as
//! root, the server runs as the `postgres` user (PostgreSQL refuses root). A watchdog process
//! stops the server and removes its directory once the test process is gone, however it ended.
//!
//! Nothing is skipped when the binaries are missing: [`PgCluster::shared`] panics saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway server. See the module docs.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<&'static str>,
    /// The addresses it listens on.
    listen: String,
    /// Whether the server syncs its write-ahead log (off for tests: nothing here cuts the
    /// machine's power; on for measurements).
    fsync: bool,
    /// Whether it takes TLS connections (with a certificate of its own test CA).
    tls: bool,
}

static SHARED: OnceLock<PgCluster> = OnceLock::new();
static STORES: AtomicU32 = AtomicU32::new(0);

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The directory holding `initdb` and `pg_ctl`.
fn server_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok())
                .map(|d| d.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    debian.sort();
    debian.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on the PATH or in \
             /usr/lib/postgresql/*/bin: install Debian's postgresql package (.ci/run does)"
        )
    })
}

impl PgCluster {
    /// The server every test of this process shares, started on first use.
    pub fn shared() -> &'static PgCluster {
        SHARED.get_or_init(PgCluster::start)
    }

    /// Starts a new server, listening on 127.0.0.1.
    pub fn start() -> PgCluster {
        PgCluster::start_listening("127.0.0.1", &[])
    }

    /// Starts a new server listening on `listen` (`*`: every address), trusting connections
    /// from the `networks` given (CIDR) besides this host's own.
    pub fn start_listening(listen: &str, networks: &[&str]) -> PgCluster {
        PgCluster::start_with(listen, networks, false, false)
    }

    /// Starts a new server on 127.0.0.1 that syncs its write-ahead log at every commit, as a
    /// production server does: for measurements.
    pub fn start_durable() -> PgCluster {
        PgCluster::start_with("127.0.0.1", &[], true, false)
    }

    /// Starts a new server on 127.0.0.1 that takes TLS connections, with a certificate for
    /// `localhost` and `127.0.0.1` signed by a CA made for it ([`PgCluster::ca_file`]).
    pub fn start_tls() -> PgCluster {
        PgCluster::start_with("127.0.0.1", &[], false, true)
    }

    fn start_with(listen: &str, networks: &[&str], fsync: bool, tls: bool) -> PgCluster {
        let bin = server_bin();
        let run_as = is_root().then_some("postgres");
        let dir = PathBuf::from(format!(
            "/tmp/rwpg-{}-{}",
            std::process::id(),
            STORES.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        if let Some(user) = run_as {
            run(Command::new("chown").arg(format!("{user}:")).arg(&dir));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let cluster = PgCluster {
            dir,
            bin,
            port,
            run_as,
            listen: listen.to_string(),
            fsync,
            tls,
        };
        if tls {
            cluster.make_certificates();
        }
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "rewind",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        if !networks.is_empty() {
            use std::io::Write as _;
            let mut hba = std::fs::OpenOptions::new()
                .append(true)
                .open(cluster.data().join("pg_hba.conf"))
                .expect("open pg_hba.conf");
            for network in networks {
                writeln!(hba, "host all all {network} trust").expect("write pg_hba.conf");
            }
        }
        cluster.watch_for_exit();
        cluster.start_server();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of the server's programs as the server's user.
    fn pg(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(&path);
                cmd
            }
            None => Command::new(&path),
        };
        cmd.args(args);
        run(&mut cmd);
    }

    /// A process that stops the server and removes its directory once this process is gone.
    fn watch_for_exit(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {stop} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            stop = self.command_line("pg_ctl"),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn command_line(&self, program: &str) -> String {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => format!("runuser -u {user} -- {}", path.display()),
            None => path.display().to_string(),
        }
    }

    /// The test CA's certificate (PEM), for `sslrootcert=`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA, and a server certificate for localhost and 127.0.0.1 signed by it.
    fn make_certificates(&self) {
        let dir = &self.dir;
        let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj"],
                &["/CN=rewind test CA"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("san"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write the certificate's names");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san",
        ]);
        run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
        if let Some(user) = self.run_as {
            run(Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir.join("server.key"))
                .arg(dir.join("server.crt")));
        }
    }

    fn start_server(&self) {
        let tls = if self.tls {
            format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
                dir = self.dir.display()
            )
        } else {
            String::new()
        };
        let options = format!(
            "-k {} -p {} -c listen_addresses='{}' -c fsync={} -c full_page_writes={} \
             -c max_connections=200 -c shared_buffers=64MB",
            self.dir.display(),
            self.port,
            self.listen,
            if self.fsync { "on" } else { "off" },
            if self.fsync { "on" } else { "off" },
        ) + &tls;
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-l",
                &self.dir.join("log").to_string_lossy(),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: like a crash, every connection
    /// cut), then starts it again; `pause` is how long it stays down.
    pub fn restart(&self, pause: std::time::Duration) {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data().to_string_lossy(),
                "-m",
                "immediate",
                "stop",
            ],
        );
        std::thread::sleep(pause);
        self.start_server();
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A URL for the store `store` over TCP.
    pub fn url(&self, store: &str) -> String {
        self.url_at("127.0.0.1", store)
    }

    /// A URL for the store `store` over TCP to `address` (one the server listens on).
    pub fn url_at(&self, address: &str, store: &str) -> String {
        format!(
            "postgres://rewind@{address}:{}/postgres?store={store}",
            self.port
        )
    }

    /// A URL for the store `store` over the server's Unix socket.
    pub fn socket_url(&self, store: &str) -> String {
        format!(
            "postgres:///postgres?host={}&port={}&user=rewind&store={store}",
            self.dir.display(),
            self.port
        )
    }

    /// A store name no other test of this process uses.
    pub fn unique_store(prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            STORES.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Runs SQL through `psql` (for checks the tests make behind rewind's back).
    pub fn psql(&self, sql: &str) -> String {
        let psql = Some(self.bin.join("psql"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("psql"));
        let out = Command::new(psql)
            .args([
                "-h",
                &self.dir.to_string_lossy(),
                "-p",
                &self.port.to_string(),
                "-U",
                "rewind",
                "-d",
                "postgres",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
