//! The `edgeheal-healer` binary: `edgeheal-healer --config FILE` serves the heal API;
//! `edgeheal-healer incidents` and `edgeheal-healer incident ID` read its incident history.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use edgeheal_healer::client::{self, Client, ListQuery};
use edgeheal_healer::clock::SystemClock;
use edgeheal_healer::config::{default_region, default_service};
use edgeheal_healer::runtime::Shutdown;
use edgeheal_healer::server::{DEFAULT_PAGE, INCIDENT_STATES, MAX_PAGE};
use edgeheal_healer::Config;

/// The edgeheal heal API: authenticated, safe remediation through the Kubernetes API.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// YAML configuration file.
    #[arg(long, value_name = "FILE", required = true)]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Log format.
    #[arg(long, value_enum, default_value = "json")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List incidents, newest first (a signed GET /v1/incidents).
    Incidents(IncidentsArgs),
    /// Show an incident with its decisions, actions and HPA minimum raises.
    Incident(IncidentArgs),
}

/// Where the heal API is and the key to sign with.
#[derive(Debug, clap::Args)]
struct Connect {
    /// The heal API's configuration: ask it at its `listen` address, signing with a key of its
    /// `auth.keys_dir` (in its pod: `kubectl exec deploy/edgeheal-healer -- edgeheal-healer
    /// incidents --config /etc/edgeheal/config/config.yaml`).
    #[arg(long, value_name = "FILE", required_unless_present = "url", conflicts_with_all = ["url", "key_file"])]
    config: Option<PathBuf>,
    /// The heal API's URL, e.g. `http://127.0.0.1:8080` through `kubectl port-forward`
    /// (with --key-file).
    #[arg(long, value_name = "URL", requires = "key_file")]
    url: Option<String>,
    /// A key file: its name is the key id, its content the secret (with --url).
    #[arg(long, value_name = "FILE", requires = "url")]
    key_file: Option<PathBuf>,
    /// The SigV4 service the heal API verifies, its `auth.service` (with --url; with --config
    /// it is read from the config).
    #[arg(long, value_name = "NAME", conflicts_with = "config", default_value_t = default_service())]
    service: String,
    /// The SigV4 region the heal API verifies, its `auth.region` (with --url).
    #[arg(long, value_name = "NAME", conflicts_with = "config", default_value_t = default_region())]
    region: String,
    /// The key id to sign with (default: with --config, the first of `auth.read_only_keys` in
    /// the keys directory, else its first id in order not in `auth.ingest_only_keys`; with
    /// --key-file, the file's name).
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// Print the heal API's JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Connect {
    fn client(&self) -> anyhow::Result<Client> {
        let key_id = self.key_id.as_deref();
        Ok(match (&self.config, &self.url, &self.key_file) {
            (Some(path), _, _) => {
                let config =
                    Config::load(path).with_context(|| format!("loading {}", path.display()))?;
                Client::from_config(&config, key_id)?
            }
            (None, Some(url), Some(key_file)) => Client::from_key_file(url, key_file, key_id)?
                .signing_for(&self.service, &self.region),
            _ => anyhow::bail!("give --config, or --url and --key-file"),
        })
    }
}

#[derive(Debug, clap::Args)]
struct IncidentsArgs {
    #[command(flatten)]
    connect: Connect,
    /// Only incidents in this state.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(INCIDENT_STATES))]
    state: Option<String>,
    /// Only incidents in this namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Only incidents of this entity (`namespace/workload`).
    #[arg(long)]
    entity: Option<String>,
    /// Only incidents of this kind (`crash_loop`, `cpu_saturation`, ...).
    #[arg(long)]
    kind: Option<String>,
    /// How many, newest first.
    #[arg(long, default_value_t = DEFAULT_PAGE as u16, value_parser = clap::value_parser!(u16).range(1..=MAX_PAGE as i64))]
    limit: u16,
    /// Every incident selected, page by page in the largest pages the heal API takes
    /// (--limit is ignored).
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Args)]
struct IncidentArgs {
    #[command(flatten)]
    connect: Connect,
    /// The incident's id.
    id: i64,
}

/// Runs a client command on a small runtime of its own.
fn client_command(command: Command) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let text = runtime.block_on(async {
        anyhow::Ok(match command {
            Command::Incidents(a) => {
                let client = a.connect.client()?;
                let mut q = ListQuery {
                    state: a.state,
                    namespace: a.namespace,
                    entity: a.entity,
                    kind: a.kind,
                    limit: usize::from(a.limit),
                };
                let incidents = if a.all {
                    q.limit = MAX_PAGE;
                    client.list_all(&q, usize::MAX).await?
                } else {
                    client.list_all(&q, q.limit).await?
                };
                if a.connect.json {
                    format!("{:#}\n", serde_json::Value::from(incidents))
                } else {
                    client::render_list(&incidents)
                }
            }
            Command::Incident(a) => {
                let found = a.connect.client()?.incident(a.id).await?;
                if a.connect.json {
                    format!("{found:#}\n")
                } else {
                    client::render_incident(&found)
                }
            }
        })
    })?;
    print!("{text}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(command) = args.command {
        // A refusal or an unreachable heal API is an answer for the person who asked, not a
        // crash: its message and the causes, without the backtrace RUST_BACKTRACE would add.
        if let Err(err) = client_command(command) {
            eprintln!("Error: {err:#}");
            std::process::exit(1);
        }
        return Ok(());
    }
    let Some(config_path) = args.config else {
        anyhow::bail!("--config FILE is required");
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match args.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(false)
            .init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
    let config =
        Config::load(&config_path).with_context(|| format!("loading {}", config_path.display()))?;
    if args.check_config {
        println!(
            "{}: ok (mode {})",
            config_path.display(),
            config.mode.as_str()
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let ran = runtime.block_on(async {
        edgeheal_healer::runtime::run_until(
            config,
            Arc::new(SystemClock),
            Arc::default(),
            shutdown_signals(),
        )
        .await
        .context("edgeheal-healer failed")
    });
    edgeheal_healer::runtime::exit_runtime(runtime);
    ran
}

/// SIGTERM or SIGINT (Ctrl-C) starts the shutdown; a second one cuts its lame-duck period
/// (`server.shutdown_delay_secs`) short.
fn shutdown_signals() -> Shutdown {
    let (count, counted) = tokio::sync::watch::channel(0u32);
    tokio::spawn(count_signals(count));
    let nth = move |n: u32| {
        let mut counted = counted.clone();
        async move {
            // The counter lives as long as the process: `Err` only if it could not.
            let _ = counted.wait_for(|c| *c >= n).await;
        }
    };
    let (first, second) = (nth(1), nth(2));
    Shutdown::on(async move {
        first.await;
        tracing::info!("shutdown requested (again to skip the shutdown delay)");
    })
    .cut_short_by(second)
}

/// Counts SIGTERM and SIGINT into `count`.
async fn count_signals(count: tokio::sync::watch::Sender<u32>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let terminate = async {
            let received = match term.as_mut() {
                Some(s) => s.recv().await,
                None => None,
            };
            if received.is_none() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            // A Ctrl-C handler that could not be installed disables this branch.
            Ok(()) = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        count.send_modify(|n| *n += 1);
    }
}
