//! Chapter 3's `run` flags: chapter 2's, flattened, plus the limits ([`LimitArgs`]).

use clap::Args;

/// `ch03-cgroups run`: chapter 2's flags, plus the limits.
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct RunArgs {
    #[command(flatten)]
    pub base: ch02_namespaces::RunArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The flags of this chapter, whatever the root is made of (chapter 4 reuses them for images).
#[derive(Debug, Clone, Args)]
#[group(skip)]
pub struct LimitArgs {
    /// Memory limit, as docker writes it: 64m, 1g, 512k or bytes.
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPUs the container may use, e.g. 0.5 for half of one CPU's time.
    #[arg(long, value_name = "FLOAT")]
    pub cpus: Option<String>,
    /// The most processes (and threads) the container may have at once.
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<String>,
    /// At exit, print peak memory, CPU time and peak processes, read from the cgroup.
    #[arg(long)]
    pub stats: bool,
    /// The cgroup (below each hierarchy's root) under which the container's own is made.
    #[arg(long, value_name = "NAME", default_value = "coracle")]
    pub cgroup_parent: String,
}

impl Default for LimitArgs {
    /// No limits, under the default parent: what chapter 4's build steps run with.
    fn default() -> Self {
        LimitArgs { memory: None, cpus: None, pids_limit: None, stats: false, cgroup_parent: "coracle".into() }
    }
}
