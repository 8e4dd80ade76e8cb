//! `edgeheal-chaos sim-cluster`: serves the simulated cluster's Kubernetes API
//! on a socket, writes a kubeconfig for it, and runs the simulation at the
//! requested speed, writing its telemetry as NDJSON, until Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use edgeheal_chaos::apiserver::{serve_until, write_kubeconfig};
use edgeheal_chaos::clock::{now_ns, NS_PER_S};
use edgeheal_chaos::closedloop::plan::demo_schedule;
use edgeheal_chaos::simcluster::{SimCluster, SimClusterConfig, OPT_IN_LABEL};
use edgeheal_chaos::{FleetName, SimConfig};

/// Parsed arguments.
pub struct Args {
    pub listen: String,
    pub kubeconfig: PathBuf,
    pub seed: u64,
    pub tick_wall: Duration,
    pub telemetry: String,
    pub faults_after: Option<u64>,
    pub interval: u32,
}

pub async fn run(a: Args) -> Result<()> {
    let cfg = SimClusterConfig::fleet_a_demo();
    let start_ns = now_ns() / NS_PER_S * NS_PER_S;
    let cluster = SimCluster::new(
        SimConfig {
            seed: a.seed,
            start_ns,
            interval_s: a.interval,
            fleet: FleetName::A.build(),
        },
        &cfg,
    )
    .context("building the simulated cluster")?;
    if let Some(after) = a.faults_after {
        let t0 = start_ns + i64::try_from(after).unwrap_or(0) * NS_PER_S;
        for (i, f) in demo_schedule().iter().enumerate() {
            let spec = f.spec(format!("f{}-{}", i + 1, f.kind.as_str()), t0);
            cluster.with_sim(|s| s.inject(spec))?;
        }
    }
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    write_kubeconfig(&a.kubeconfig, &url)
        .with_context(|| format!("writing {}", a.kubeconfig.display()))?;
    eprintln!(
        "edgeheal-chaos sim-cluster: THIS IS A SIMULATOR, not a Kubernetes cluster.\n  \
         API (Deployments, ReplicaSets, Pods, HPAs, Events, Leases) at {url}, kubeconfig {}\n  \
         workloads opted in with {OPT_IN_LABEL}=\"true\" except {}; HPA on {}\n  \
         one {} s tick every {:.3} s wall; telemetry NDJSON to {}; Ctrl-C stops",
        a.kubeconfig.display(),
        cfg.not_opted_in.join(", "),
        cfg.hpas
            .iter()
            .map(|(w, lo, hi)| format!("{w} ({lo}..={hi})"))
            .collect::<Vec<_>>()
            .join(", "),
        a.interval,
        a.tick_wall.as_secs_f64(),
        if a.telemetry == "-" {
            "stdout"
        } else {
            a.telemetry.as_str()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut rx = stop_rx.clone();
        tokio::spawn(serve_until(listener, cluster.api().clone(), async move {
            let _ = rx.changed().await;
        }))
    };
    let mut out: Box<dyn Write + Send> = if a.telemetry == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(&a.telemetry)
                .with_context(|| format!("creating {}", a.telemetry))?,
        ))
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut records = Vec::new();
    loop {
        let started = Instant::now();
        records.clear();
        cluster.step(&mut records)?;
        for r in &records {
            out.write_all(r.line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        let rest = a.tick_wall.saturating_sub(started.elapsed());
        tokio::select! {
            _ = &mut ctrl_c => break,
            _ = tokio::time::sleep(rest) => {}
        }
    }
    let _ = stop_tx.send(true);
    server.await.context("API server task")??;
    eprintln!("edgeheal-chaos sim-cluster: stopped");
    Ok(())
}
