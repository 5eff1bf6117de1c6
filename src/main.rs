use clap::{Parser, Subcommand};
use execdeck::cli;
use std::time::Duration;

/// The spec keys (one table in the engine) and examples, after the options.
fn spec_help() -> String {
    format!(
        "GATEWAY SPECS (execnet's grammar: key[=value] items joined by //)\n{}\n{SPEC_EXAMPLES}",
        execdeck::engine::spec::keys_help()
    )
}

const SPEC_EXAMPLES: &str = "\
EXAMPLES
  execdeck exec -g popen -c 'import sys; print(sys.version)'
  execdeck exec -g popen//python=python2.7 -g popen//python=pypy3 script.py
  echo 'print(42)' | execdeck exec -g popen -
  execdeck info -g popen//python=python3.12 -g popen//python=jython//timeout=30 --json";

/// execdeck: drive Python interpreters over execnet's wire protocol.
#[derive(Parser)]
#[command(version, about, after_help = spec_help())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Cockpit: open a gateway in group "local" (repeatable). Without any -g or
    /// --group, the cockpit opens popen//python=python3.
    #[arg(short = 'g', long = "gateway", value_name = "SPEC", global = false)]
    gateways: Vec<String>,
    /// Cockpit: open a group of gateways, NAME=SPEC,SPEC,... (repeatable).
    #[arg(long = "group", value_name = "NAME=SPEC,SPEC")]
    groups: Vec<String>,
    /// SSH: record unknown host keys after you checked their fingerprint (a changed
    /// key is always refused).
    #[arg(long, global = true)]
    accept_new_host_keys: bool,
    /// Bootstraps in flight at once for local interpreters (default: 2 x CPUs, at
    /// least 4); more gateways wait as `queued`, their timeout not yet running.
    #[arg(long = "start-slots", value_name = "N", global = true)]
    start_slots: Option<usize>,
    /// Bootstraps in flight at once per SSH user@host:port (default 8, below sshd's
    /// MaxStartups of 10).
    #[arg(long = "ssh-start-slots", value_name = "N", global = true)]
    ssh_start_slots: Option<usize>,
    /// Cockpit: open the groups of a session file (or a session saved with :save NAME).
    #[arg(long = "session", value_name = "FILE.toml|NAME")]
    session: Option<String>,
    /// Cockpit: seconds between two metric samples of each gateway (0: off; default
    /// from config.toml [monitor] interval, else 2).
    #[arg(long = "monitor-interval", value_name = "SECONDS")]
    monitor_interval: Option<f64>,
}

/// One spec string, `N*SPEC` included.
fn parse_spec(s: &str) -> Result<Vec<execdeck::engine::Spec>, String> {
    execdeck::engine::Spec::parse_many(s).map_err(|e| e.to_string())
}

/// The cockpit's start-up gateways from --session, -g and --group; an error names the
/// bad part. With none of them, the configured default spec opens in group "local".
fn cockpit_gateways(
    gateways: &[String],
    groups: &[String],
    session: Option<&str>,
    default_spec: &str,
) -> Result<StartGateways, String> {
    let mut out = Vec::new();
    let mut setup = None;
    if let Some(name) = session {
        let mut s = execdeck::config::Session::open(name)?;
        for g in &s.groups {
            for spec in &g.specs {
                out.extend(parse_spec(spec)?.into_iter().map(|s| (g.name.clone(), s)));
            }
        }
        // channels, bridges, the grid and the view are set up by the cockpit
        s.groups.clear();
        setup = Some(s);
    }
    for g in gateways {
        out.extend(parse_spec(g)?.into_iter().map(|s| ("local".to_string(), s)));
    }
    for g in groups {
        let (name, specs) = g
            .split_once('=')
            .ok_or_else(|| format!("--group '{g}': expected NAME=SPEC,SPEC"))?;
        if name.is_empty() {
            return Err(format!("--group '{g}': the group name is empty"));
        }
        for spec in specs.split(',') {
            out.extend(parse_spec(spec)?.into_iter().map(|s| (name.to_string(), s)));
        }
    }
    if out.is_empty() {
        out.extend(
            parse_spec(default_spec)?
                .into_iter()
                .map(|s| ("local".to_string(), s)),
        );
    }
    Ok((out, setup))
}

/// Start-up gateways (group, spec) and what else a session file asks for.
type StartGateways = (
    Vec<(String, execdeck::engine::Spec)>,
    Option<execdeck::config::Session>,
);

#[derive(Subcommand)]
enum Command {
    /// Run code on one or more gateways concurrently and stream their output.
    #[command(after_help = spec_help())]
    Exec {
        /// A gateway spec; repeat for several (default: popen//python=python3).
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// Code to run.
        #[arg(
            short = 'c',
            long = "code",
            value_name = "CODE",
            conflicts_with = "file"
        )]
        code: Option<String>,
        /// A file of code to run, or - for standard input.
        #[arg(value_name = "FILE")]
        file: Option<String>,
        /// JSON lines: a "gateway" line per gateway (its metadata), "output" lines
        /// {"gateway", "stream", "text"}, an "exit" line per gateway.
        #[arg(long)]
        json: bool,
        /// Seconds a bootstrap may take unless the spec says timeout=.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        bootstrap_timeout: f64,
        /// Seconds to wait for workers to exit before killing them.
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
        terminate_timeout: f64,
    },
    /// Run a function over many inputs on a group of workers (a task farm): one JSON
    /// value per input line, one JSON line per result on stdout
    /// ({"index","gateway","seconds","result"} or {"index","gateway","error"}), in the
    /// order they finish unless --ordered. Exit code 1 if any task failed.
    #[command(after_help = spec_help())]
    Map {
        /// A gateway spec; repeat for several; N*SPEC gives N workers (default:
        /// popen//python=python3).
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// The Python file that defines the function.
        #[arg(long = "code", value_name = "FILE.py")]
        code: String,
        /// The function to call with each input.
        #[arg(long = "call", value_name = "NAME")]
        call: String,
        /// JSON lines, one input per line, or - for standard input.
        #[arg(long, default_value = "-", value_name = "FILE.jsonl|-")]
        inputs: String,
        /// Print results in input order.
        #[arg(long)]
        ordered: bool,
        /// Tasks each worker holds at once.
        #[arg(long, default_value_t = 2, value_name = "K")]
        prefetch: usize,
        /// How often a task whose worker died is handed to another worker.
        #[arg(long, default_value_t = 2, value_name = "N")]
        retries: u32,
        /// Seconds a bootstrap may take unless the spec says timeout=.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        bootstrap_timeout: f64,
        /// Seconds to wait for workers to exit before killing them.
        #[arg(long, default_value_t = 2.0, value_name = "SECONDS")]
        terminate_timeout: f64,
    },
    /// Push a directory tree to every gateway at once: only files whose size or
    /// content (SHA-256 on both sides) differ are sent; modes and symlinks are kept.
    /// Prints one summary line per gateway; exit code 1 if any gateway failed.
    #[command(after_help = spec_help())]
    Rsync {
        /// The local directory to push.
        #[arg(value_name = "SRC_DIR")]
        src: String,
        /// A gateway spec; repeat for several; N*SPEC gives N.
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// The directory on each gateway's host (relative paths: to its cwd).
        #[arg(long, value_name = "PATH")]
        dest: String,
        /// Remove what is under PATH but not in SRC_DIR.
        #[arg(long)]
        delete: bool,
        /// One JSON line per gateway instead of text.
        #[arg(long)]
        json: bool,
        /// Seconds a bootstrap may take unless the spec says timeout=.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        bootstrap_timeout: f64,
    },
    /// Run (or print) the socket server that serves gateways over TCP to peers that
    /// prove the shared token (EXECDECK_TOKEN or --token-file).
    Socketserver {
        /// Address to listen on (127.0.0.1 unless told otherwise; port 0 picks one).
        #[arg(long, default_value = "127.0.0.1:8888", value_name = "HOST:PORT")]
        listen: String,
        /// File holding the shared token (else the EXECDECK_TOKEN environment variable).
        #[arg(long, value_name = "PATH")]
        token_file: Option<String>,
        /// Most connections at once, in handshake or served (at the cap a new connection
        /// evicts the oldest unauthenticated one).
        #[arg(long, default_value_t = 64, value_name = "N")]
        max_clients: u32,
        /// Seconds for a client's whole handshake, bootstrap line included.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        handshake_timeout: f64,
        /// Serve over TLS with this certificate (PEM); clients pin its SHA-256
        /// fingerprint with tls_fingerprint= in the spec. Needs --tls-key.
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<String>,
        /// The certificate's private key (PEM, not readable by group or others).
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<String>,
        /// Python that runs the server.
        #[arg(long, default_value = "python3", value_name = "PYTHON")]
        python: String,
        /// Print the server script instead of running it (to copy it to another host:
        /// `execdeck socketserver --print > s.py; EXECDECK_TOKEN=... python3 s.py HOST:PORT`).
        #[arg(long)]
        print: bool,
    },
    /// Per-gateway metrics (RTT, remote CPU and RSS, channels, tasks, message and byte
    /// rates, uptime) every interval, as a table or JSON lines.
    #[command(after_help = spec_help())]
    Top {
        /// A gateway spec; repeat for several (default: popen//python=python3).
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// Seconds between samples.
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        interval: f64,
        /// Print one table (two samples one interval apart) and exit.
        #[arg(long)]
        once: bool,
        /// One JSON object per gateway and sample.
        #[arg(long)]
        json: bool,
    },
    /// Rosetta grid: run one snippet on every gateway and compare result, type,
    /// exception and time. Rows are printed as gateways answer; the last line names the
    /// gateways whose answer differs from the majority.
    #[command(after_help = spec_help())]
    Rosetta {
        /// A gateway spec; repeat for several.
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// Code to run (the value of a final expression is the result); it may start
        /// with '-' (`-c '-7//2'`, `--code=-0.0`, `-c -- CODE`).
        #[arg(short = 'c', long, value_name = "CODE", allow_hyphen_values = true)]
        code: Option<String>,
        /// One JSON object per gateway and line.
        #[arg(long)]
        json: bool,
        /// Seconds each gateway may take to answer; later cells are marked `timed out`.
        #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
        timeout: f64,
    },
    /// Print interpreter facts (implementation, version, pid, executable, cwd).
    #[command(after_help = spec_help())]
    Info {
        /// A gateway spec; repeat for several (default: popen//python=python3).
        #[arg(short = 'g', long = "gateway", value_name = "SPEC")]
        gateways: Vec<String>,
        /// One JSON object per gateway and line.
        #[arg(long)]
        json: bool,
        /// Seconds a bootstrap may take unless the spec says timeout=.
        #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
        bootstrap_timeout: f64,
    },
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    if s.is_finite() && s > 0.0 && s < 1e6 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(format!(
            "--{name} must be a positive number of seconds, got {s}"
        ))
    }
}

fn main() {
    let cli = Cli::parse_from(join_code_after_separator(std::env::args().collect()));
    // config.toml's [limits] are the base of every gateway's limits
    let (config, notice) = execdeck::config::Config::load();
    execdeck::config::set_limits(config.gateway_limits("config.toml").unwrap_or_default());
    if let (Some(n), true) = (notice, cli.command.is_some()) {
        eprintln!("execdeck: {n}"); // the cockpit shows it in its status line
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("execdeck: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(run(cli)).unwrap_or_else(|e| {
        eprintln!("execdeck: {e}");
        2
    });
    // not drop(rt): that waits for blocking tasks, e.g. an ssh setup stuck in a slow
    // handshake, so that SIGINT/SIGTERM during setup would wait for it
    rt.shutdown_timeout(std::time::Duration::from_millis(300));
    std::process::exit(code);
}

/// Runs what the command line asks for: the exit code, or a usage error (exit code 2).
async fn run(cli: Cli) -> Result<i32, String> {
    let accept_new_host_keys = cli.accept_new_host_keys;
    if cli.start_slots == Some(0) || cli.ssh_start_slots == Some(0) {
        return Err("--start-slots and --ssh-start-slots need at least 1".to_string());
    }
    let d = execdeck::engine::pacer::limits();
    execdeck::engine::pacer::set_limits(execdeck::engine::pacer::StartLimits {
        local: cli.start_slots.unwrap_or(d.local),
        per_ssh_host: cli.ssh_start_slots.unwrap_or(d.per_ssh_host),
        ..d
    });
    Ok(match cli.command {
        Some(Command::Exec {
            gateways,
            code,
            file,
            json,
            bootstrap_timeout,
            terminate_timeout,
        }) => {
            let code = match (code, file) {
                (Some(c), _) => cli::Code::Inline(c),
                (None, Some(f)) if f == "-" => cli::Code::Stdin,
                (None, Some(f)) => cli::Code::File(f),
                (None, None) => {
                    eprintln!("execdeck exec: give code with -c CODE, a FILE, or - for stdin");
                    return Ok(2);
                }
            };
            cli::exec(cli::ExecArgs {
                specs: gateways,
                code,
                json,
                connect: cli::Connect {
                    bootstrap_timeout: seconds("bootstrap-timeout", bootstrap_timeout)?,
                    accept_new_host_keys,
                },
                terminate_timeout: seconds("terminate-timeout", terminate_timeout)?,
            })
            .await?
        }
        Some(Command::Map {
            gateways,
            code,
            call,
            inputs,
            ordered,
            prefetch,
            retries,
            bootstrap_timeout,
            terminate_timeout,
        }) => {
            if prefetch == 0 || prefetch > 10_000 {
                return Err("--prefetch must be 1 to 10000".into());
            }
            cli::map(cli::MapArgs {
                specs: gateways,
                code_file: code,
                function: call,
                inputs,
                ordered,
                prefetch,
                retries,
                connect: cli::Connect {
                    bootstrap_timeout: seconds("bootstrap-timeout", bootstrap_timeout)?,
                    accept_new_host_keys,
                },
                terminate_timeout: seconds("terminate-timeout", terminate_timeout)?,
            })
            .await?
        }
        Some(Command::Rsync {
            src,
            gateways,
            dest,
            delete,
            json,
            bootstrap_timeout,
        }) => {
            cli::rsync(cli::RsyncArgs {
                src,
                specs: gateways,
                dest,
                delete,
                json,
                connect: cli::Connect {
                    bootstrap_timeout: seconds("bootstrap-timeout", bootstrap_timeout)?,
                    accept_new_host_keys,
                },
            })
            .await?
        }
        Some(Command::Socketserver {
            listen,
            token_file,
            max_clients,
            handshake_timeout,
            tls_cert,
            tls_key,
            python,
            print,
        }) => {
            if print {
                print!("{}", execdeck::engine::bootstrap::SOCKETSERVER_SOURCE);
                return Ok(0);
            }
            use std::os::unix::process::CommandExt;
            let mut cmd = std::process::Command::new(&python);
            cmd.arg("-u")
                .arg("-c")
                .arg(execdeck::engine::bootstrap::SOCKETSERVER_SOURCE)
                .arg(&listen)
                .arg("--max-clients")
                .arg(max_clients.to_string())
                .arg("--handshake-timeout")
                .arg(handshake_timeout.to_string());
            if let Some(t) = &token_file {
                cmd.arg("--token-file").arg(t);
            }
            if let (Some(c), Some(k)) = (&tls_cert, &tls_key) {
                cmd.arg("--tls-cert").arg(c).arg("--tls-key").arg(k);
            }
            let err = cmd.exec();
            eprintln!("execdeck: cannot run `{python}`: {err}");
            1
        }
        Some(Command::Top {
            gateways,
            interval,
            once,
            json,
        }) => {
            cli::top(cli::TopArgs {
                specs: gateways,
                interval: seconds("interval", interval)?,
                once,
                json,
                connect: cli::Connect {
                    bootstrap_timeout: Duration::from_secs(10),
                    accept_new_host_keys,
                },
            })
            .await?
        }
        Some(Command::Rosetta {
            gateways,
            code,
            json,
            timeout,
        }) => {
            let Some(code) = code else {
                eprintln!("execdeck rosetta: give the snippet with -c CODE");
                return Ok(2);
            };
            cli::rosetta(cli::RosettaArgs {
                specs: gateways,
                code: cli::Code::Inline(code),
                json,
                timeout: seconds("timeout", timeout)?,
                connect: cli::Connect {
                    bootstrap_timeout: Duration::from_secs(30),
                    accept_new_host_keys,
                },
            })
            .await?
        }
        Some(Command::Info {
            gateways,
            json,
            bootstrap_timeout,
        }) => {
            cli::info(cli::InfoArgs {
                specs: gateways,
                json,
                connect: cli::Connect {
                    bootstrap_timeout: seconds("bootstrap-timeout", bootstrap_timeout)?,
                    accept_new_host_keys,
                },
            })
            .await?
        }
        None => {
            let (config, config_notice) = execdeck::config::Config::load();
            let (gateways, setup) = cockpit_gateways(
                &cli.gateways,
                &cli.groups,
                cli.session.as_deref(),
                &config.default_spec,
            )?;
            let (keymap, keymap_notice) = execdeck::tui::load_keymap();
            let notice = match (config_notice, keymap_notice) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            let mut monitor = config.monitor.clone();
            if let Some(secs) = cli.monitor_interval {
                monitor.interval = secs;
                monitor.check("--monitor-interval")?;
            }
            execdeck::tui::run(execdeck::tui::Startup {
                gateways,
                setup,
                monitor,
                scrollback: config.scrollback,
                confirm_quit: config.confirm_quit,
                notice,
                keymap,
                accept_new_host_keys,
            })
            .await
        }
    })
}

/// `-c -- CODE` / `--code -- CODE`: the code is the word after the separator, even when
/// it starts with '-' (clap would take "--" itself as the value). Rewritten to
/// `--code=CODE` before parsing.
fn join_code_after_separator(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter().peekable();
    let mut rosetta = false;
    while let Some(a) = it.next() {
        rosetta |= a == "rosetta";
        if rosetta && (a == "-c" || a == "--code") && it.peek().is_some_and(|n| n == "--") {
            it.next();
            if let Some(code) = it.next() {
                out.push(format!("--code={code}"));
                continue;
            }
            out.push(a);
            out.push("--".into());
            continue;
        }
        out.push(a);
    }
    out
}
