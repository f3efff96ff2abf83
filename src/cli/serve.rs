//! `fer-rt serve`: flags onto the config, then `serve::serve`. Ctrl-C or SIGTERM drains
//! the service and exits 0: stopping a server is how it ends, not an interruption.
use super::run::{settle, ApplyFlags};
use super::Cli;
use crate::config::Config;
use std::net::SocketAddr;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default serve.listen, 127.0.0.1:8080). Off loopback, a token
    /// is required. Port 0 picks a free port; the address is printed on stderr.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Every request must carry this token (Authorization: Bearer, or ?token=).
    #[arg(long, env = "FER_RT_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A server-side source, NAME=INPUT or INPUT (named by its file stem): a video file
    /// played at its own rate, a stream URL, or a camera as /dev/videoN. Repeatable.
    #[arg(long, value_name = "[NAME=]FILE|URL")]
    pub source: Vec<String>,
    /// File sources play again from the start when they end (serve.loop_files).
    #[arg(long = "loop")]
    pub loop_files: bool,
    /// Model worker threads (default serve.workers).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub run: super::RunFlags,
    #[command(flatten)]
    pub limits: super::LimitFlags,
}

impl ApplyFlags for ServeArgs {
    fn apply(&self, cfg: &mut Config) -> anyhow::Result<()> {
        self.run.apply(cfg);
        self.limits.apply(cfg);
        if let Some(l) = self.listen {
            cfg.serve.listen = l.to_string();
        }
        if self.loop_files {
            cfg.serve.loop_files = true;
        }
        if let Some(w) = self.workers {
            cfg.serve.workers = w;
        }
        Ok(())
    }
}

pub fn run(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let cfg = settle(cli, args)?;
    let listen: SocketAddr = cfg
        .serve
        .listen
        .parse()
        .map_err(|e| crate::Error::Config(format!("serve.listen '{}': {e}", cfg.serve.listen)))?;
    let sources = args
        .source
        .iter()
        .enumerate()
        .map(|(k, s)| crate::serve::SourceSpec::parse(s, k))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = crate::serve::Options { listen, token: args.token.clone(), sources };
    super::install_stop_handler();
    crate::serve::serve(cfg, opts)
}
