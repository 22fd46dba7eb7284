//! The `machipay` binary: a thin CLI over the library (serve, bootstrap-city, expire,
//! grant-rebates, rebuild-aggregates, check-aggregates, lottery-verify).

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use machipay::app::App;
use machipay::db::Db;
use machipay::features::expiry;
use machipay::writer::Writer;
use machipay_domain::calendar::jst_date;

const DEFAULT_DATABASE_URL: &str = "sqlite:machipay.db";
/// The demo town's own SQLite file, recreated by every `serve --demo` without a database.
const DEMO_DATABASE_FILE: &str = "machipay-demo.db";

/// How long shutdown waits for the writer to commit what is queued.
const WRITER_DRAIN_TIMEOUT_MS: u64 = 10_000;

#[derive(Parser)]
#[command(
    name = "machipay",
    version,
    about = "Ledger service for a town's digital regional currency and point card"
)]
struct Cli {
    /// Where the ledger lives: `sqlite:<file>` (created if missing) or `postgres://...`.
    /// Default `sqlite:machipay.db`; `serve --demo` without it uses a fresh
    /// `sqlite:machipay-demo.db` on every start.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Log lines as text (default) or as JSON objects (one a line; a request's lines carry
    /// its `request_id`, the `x-request-id` of its answer).
    #[arg(long, env = "MACHIPAY_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        #[arg(long, env = "MACHIPAY_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Serve `/metrics` (with `/healthz` and `/readyz`) on this address only, instead of
        /// on the main one (which then answers 404 for `/metrics`).
        #[arg(long, env = "MACHIPAY_METRICS_ADDR")]
        metrics_addr: Option<SocketAddr>,
        /// Seed a demo town first and print how to open each page. Without --database-url
        /// (or DATABASE_URL) the town lives in ./machipay-demo.db, made afresh on every start;
        /// a database given explicitly must be empty.
        #[arg(long)]
        demo: bool,
        /// Days a stored idempotent reply is kept; after that its key is purged (hourly, in
        /// batches of 1,000) and behaves as new. Default 30: tills may send a queued payment
        /// days after a power cut (see `writer::retention`).
        #[arg(long, env = "MACHIPAY_IDEMPOTENCY_RETENTION_DAYS",
              default_value_t = machipay::writer::retention::RETENTION_DAYS_DEFAULT,
              value_parser = clap::value_parser!(u32).range(1..=3_650))]
        idempotency_retention_days: u32,
        /// A request's time limit, in milliseconds: past it 408, or 503 `outcome_unknown` for
        /// a write with an Idempotency-Key (card imports get at least 10 minutes).
        #[arg(long, env = "MACHIPAY_REQUEST_TIMEOUT_MS",
              default_value_t = machipay::server::REQUEST_TIMEOUT_MS,
              value_parser = clap::value_parser!(u64).range(100..=600_000))]
        request_timeout_ms: u64,
        /// Time a connection has to send a request head (new or idle keep-alive), in
        /// milliseconds; then it is closed.
        #[arg(long, env = "MACHIPAY_HEADER_READ_TIMEOUT_MS",
              default_value_t = machipay::server::HEADER_READ_TIMEOUT_MS,
              value_parser = clap::value_parser!(u64).range(100..=600_000))]
        header_read_timeout_ms: u64,
        /// The address people open the app at (`https://pay.example.jp`): passkeys (WebAuthn)
        /// work only there (its host name is the relying party's id). Default
        /// `http://localhost:<port of --addr>`; an IP address is refused.
        #[arg(long, env = "MACHIPAY_PUBLIC_URL")]
        public_url: Option<url::Url>,
    },
    /// Create a city with its first admin and print the admin's bearer token (once).
    BootstrapCity {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "admin")]
        admin_name: String,
    },
    /// Expire what can no longer be spent (lots past their date, wallets idle too long) and
    /// print what moved. Running it twice for a date moves nothing the second time.
    Expire {
        /// The JST business date to expire as of (YYYY-MM-DD); value whose last day is
        /// before it expires. Default: today in Japan; a later date is refused.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
        /// Print what would move, per program and asset (wallets and amount), and move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Recompute the report aggregates from postings (one writer transaction; like every
    /// command here it refuses to run beside `serve`) and print the rows per table.
    RebuildAggregates,
    /// Compare the report aggregates with the postings; print the first row that differs
    /// and exit 1 if one does.
    CheckAggregates,
    /// Check every program's ledger (balanced transactions, balances = postings = open lots,
    /// returns within their originals), with progress on stderr; a full check that passes
    /// leaves a checkpoint. Exits 1 if anything is wrong.
    LedgerCheck {
        /// Check only what came after the last full check that passed (seconds, not minutes).
        #[arg(long)]
        incremental: bool,
    },
    /// Grant batch rebates due on or before a date (also done hourly by `serve`).
    GrantRebates {
        /// JST date (YYYY-MM-DD); default today in Japan.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Re-run a lottery's draws from its revealed seed and its published draw report (the
    /// JSON of `GET .../lotteries/{id}/report`) and print the winners; exits 1 if the seed
    /// does not match the published hash or the winners differ. Opens no database.
    LotteryVerify {
        /// The seed the operator revealed at the draw.
        #[arg(long)]
        seed: String,
        /// The published draw report (JSON).
        #[arg(long)]
        applications: std::path::PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        // One JSON object a line; the fields of the enclosing spans (the request's
        // `request_id`, method, path, principal) are flattened into each.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_env_filter(filter)
            .init(),
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("machipay: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Command::LotteryVerify { seed, applications } = &cli.command {
        return lottery_verify(seed, applications);
    }
    // A date in the future is refused before the database is even opened.
    if let Command::Expire {
        as_of: Some(as_of), ..
    } = cli.command
    {
        expiry::check_as_of(as_of, jst_date(chrono::Utc::now())).map_err(|e| e.to_string())?;
    }
    let demo = matches!(cli.command, Command::Serve { demo: true, .. });
    let database_url = database_url(cli.database_url, demo)?;
    let db = Db::connect(&database_url)
        .await
        .map_err(|e| e.to_string())?;
    let (writer, mut writer_task) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
    let app = App::new(db.clone(), writer);
    match cli.command {
        Command::Serve {
            addr,
            metrics_addr,
            demo,
            idempotency_retention_days,
            request_timeout_ms,
            header_read_timeout_ms,
            public_url,
        } => {
            if let Some(url) = &public_url {
                app.relying_party.configure(url)?;
            }
            // The address printed for people: the public URL, else this port on `localhost`
            // (where passkeys work, as they never do on an IP address).
            let site = public_url.as_ref().map_or_else(
                || format!("http://localhost:{}", addr.port()),
                |u| u.as_str().trim_end_matches('/').to_owned(),
            );
            if demo {
                seed_demo(&app, &site).await?;
            }
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, database = ?db.backend(), "machipay listening");
            // The expiry schedule: once now, then every EXPIRY_INTERVAL, until shutdown.
            let (stop_expiry, stopped) = tokio::sync::watch::channel(false);
            let expiry_task = tokio::spawn(expiry::run_periodically(
                app.clone(),
                expiry::EXPIRY_INTERVAL,
                stopped,
            ));
            let purge_task = tokio::spawn(machipay::writer::retention::run_periodically(
                app.writer.bulk(),
                idempotency_retention_days,
                machipay::writer::retention::PURGE_INTERVAL,
                stop_expiry.subscribe(),
            ));
            let limits = machipay::server::Limits {
                metrics_here: metrics_addr.is_none(),
                request_timeout_ms,
                header_read_timeout_ms,
                ..machipay::server::Limits::default()
            };
            let metrics_task = match metrics_addr {
                Some(at) => Some(serve_metrics(at, app.clone(), stop_expiry.subscribe()).await?),
                None => None,
            };
            let shutdown = async move {
                shutdown_signal().await;
                let _ = stop_expiry.send(true);
            };
            // A dead writer ends the process with an error (exit status 1).
            machipay::server::serve_with_writer(listener, app, limits, &mut writer_task, shutdown)
                .await?;
            if let Some(task) = metrics_task {
                let _ = task.await;
            }
            // The schedules hold writer handles: wait for them before draining the writer.
            let _ = expiry_task.await;
            let _ = purge_task.await;
            tracing::info!("stopped taking requests; draining the writer");
        }
        Command::BootstrapCity { name, admin_name } => {
            let b = machipay::features::directory::bootstrap_city(&app, name, admin_name)
                .await
                .map_err(|e| e.to_string())?;
            drop(app);
            println!("city:        {} ({})", b.city.name, b.city.id);
            println!("admin:       {} ({})", b.admin.name, b.admin.id);
            println!("admin token: {}", b.token);
            println!("Keep the token safe: it is shown only this once.");
        }
        Command::Expire { as_of, dry_run } => {
            let today = jst_date(chrono::Utc::now());
            let as_of =
                expiry::check_as_of(as_of.unwrap_or(today), today).map_err(|e| e.to_string())?;
            if dry_run {
                let plan = expiry::plan(&app, as_of).await.map_err(|e| e.to_string())?;
                drop(app);
                println!("{plan}");
            } else {
                let run = expiry::expire(&app, as_of)
                    .await
                    .map_err(|e| e.to_string())?;
                drop(app);
                println!("{run}");
            }
        }
        Command::RebuildAggregates => {
            let started = std::time::Instant::now();
            let rebuilt = machipay::writer::aggregates::rebuild(&app.writer)
                .await
                .map_err(|e| e.to_string())?;
            drop(app);
            for (table, rows) in rebuilt.rows {
                println!("{table}: {rows} rows");
            }
            println!("rebuilt in {} ms", started.elapsed().as_millis());
        }
        Command::CheckAggregates => {
            let started = std::time::Instant::now();
            let diff = machipay::writer::aggregates::check(&db, None)
                .await
                .map_err(|e| e.to_string())?;
            drop(app);
            let ms = started.elapsed().as_millis();
            if let Some(d) = diff {
                let _ = tokio::time::timeout(
                    Duration::from_millis(WRITER_DRAIN_TIMEOUT_MS),
                    writer_task,
                )
                .await;
                db.close().await;
                return Err(format!(
                    "aggregates differ from postings ({ms} ms): {} {}: stored {}, postings {}",
                    d.table,
                    d.key,
                    d.stored.as_deref().unwrap_or("(no row)"),
                    d.from_postings.as_deref().unwrap_or("(no row)"),
                ));
            }
            println!("aggregates = postings ({ms} ms)");
        }
        Command::LotteryVerify { .. } => unreachable!("handled before the database is opened"),
        Command::LedgerCheck { incremental } => {
            let failed = ledger_check(&app, incremental).await?;
            drop(app);
            if failed > 0 {
                let _ = tokio::time::timeout(
                    Duration::from_millis(WRITER_DRAIN_TIMEOUT_MS),
                    writer_task,
                )
                .await;
                db.close().await;
                return Err(format!("{failed} program(s) failed the ledger check"));
            }
        }
        Command::GrantRebates { as_of } => {
            let as_of = as_of.unwrap_or_else(|| jst_date(chrono::Utc::now()));
            let run = machipay::features::campaigns::rebates::grant_due(&app, as_of)
                .await
                .map_err(|e| e.to_string())?;
            drop(app);
            println!(
                "rebates granted as of {as_of}: {} accruals, {} points",
                run.accruals, run.points
            );
        }
    }
    // Every Writer handle is gone now, so the writer commits what is queued and stops.
    let _ = tokio::time::timeout(Duration::from_millis(WRITER_DRAIN_TIMEOUT_MS), writer_task).await;
    db.close().await;
    Ok(())
}

/// `machipay lottery-verify`: prints each round's winners as the seed draws them (in the
/// order drawn) and whether they are the report's.
fn lottery_verify(seed: &str, report: &std::path::Path) -> Result<(), String> {
    use machipay::features::campaigns::lottery;
    let text = std::fs::read_to_string(report)
        .map_err(|e| format!("cannot read {}: {e}", report.display()))?;
    let report: lottery::DrawReport =
        serde_json::from_str(&text).map_err(|e| format!("not a draw report: {e}"))?;
    let rounds = lottery::verify(&report, seed)?;
    println!("lottery {} ({})", report.campaign_id, report.name);
    println!("seed_hash {} matches the seed", report.seed_hash);
    let mut all = true;
    for r in &rounds {
        let units: u64 = r.winners.iter().map(|w| u64::from(w.units)).sum();
        println!(
            "round {}: {} winners, {units} sets; {}",
            r.round,
            r.winners.len(),
            if r.matches {
                "same winners as published"
            } else {
                "DIFFERENT from the published winners"
            }
        );
        for w in &r.winners {
            println!("  {} {}", w.shopper_id, w.units);
        }
        all &= r.matches;
    }
    if all {
        Ok(())
    } else {
        Err("the published winners are not what the seed draws".into())
    }
}

/// Checks every program, printing progress to stderr and each result as JSON to stdout;
/// answers how many failed.
async fn ledger_check(app: &App, incremental: bool) -> Result<usize, String> {
    use machipay::features::payments::check;
    let mut failed = 0;
    for program in check::programs(app).await.map_err(|e| e.to_string())? {
        let started = std::time::Instant::now();
        let result = if incremental {
            check::incremental(app, program).await
        } else {
            let mut last = std::time::Instant::now();
            let mut report = |p: check::Progress| {
                if last.elapsed() >= Duration::from_secs(1) || p.done == p.of {
                    last = std::time::Instant::now();
                    eprintln!(
                        "ledger-check {program}: {} {}/{} ({:.1} s)",
                        p.step,
                        p.done,
                        p.of,
                        started.elapsed().as_secs_f64()
                    );
                }
            };
            check::full(app, program, &mut report).await
        }
        .map_err(|e| e.to_string())?;
        eprintln!(
            "ledger-check {program}: {} in {:.2} s",
            if result.ok { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        failed += usize::from(!result.ok);
        println!(
            "{}",
            serde_json::to_string(&result).map_err(|e| e.to_string())?
        );
    }
    Ok(failed)
}

/// The database to open: the one given, or the default file; the demo's own file is removed
/// first so every `serve --demo` starts the same fresh town (it never touches machipay.db).
fn database_url(given: Option<String>, demo: bool) -> Result<String, String> {
    if let Some(url) = given {
        return Ok(url);
    }
    if !demo {
        return Ok(DEFAULT_DATABASE_URL.into());
    }
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{DEMO_DATABASE_FILE}{suffix}");
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove the old demo database {path}: {e}")),
        }
    }
    Ok(format!("sqlite:{DEMO_DATABASE_FILE}"))
}

/// Seeds the demo town (refusing a database that already holds a city) and prints the URLs
/// and sign-in codes.
async fn seed_demo(app: &App, site: &str) -> Result<(), String> {
    let cities = machipay::features::directory::city_count(&app.db)
        .await
        .map_err(|e| e.to_string())?;
    if cities > 0 {
        return Err(
            "--demo seeds an empty database only; leave out --database-url to use a fresh machipay-demo.db".into(),
        );
    }
    tracing::info!("seeding the demo town");
    let town = machipay::demo::seed(app).await.map_err(|e| e.to_string())?;
    println!("{}", machipay::demo::instructions(&town, site));
    Ok(())
}

/// `/metrics`, `/healthz` and `/readyz` on their own address, until `stop` turns true.
async fn serve_metrics(
    at: SocketAddr,
    app: App,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|e| format!("cannot listen on {at} (metrics): {e}"))?;
    tracing::info!(%at, "metrics listening");
    let router = machipay::server::observe::ops_router(app);
    Ok(tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "metrics listener failed");
        }
    }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
