//! Splitting a batch across the tasks of a cluster job. A shard takes the inputs whose
//! stable hash (FNV-1a of the output name) falls in it, so every task computes the same
//! split from the same input list without talking to the others, and adding an input to
//! the list does not move the others between shards (resume keeps working).
use crate::error::{Error, Result};
use std::fmt;

/// Task `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The environment variables schedulers set, read by `--shard auto`.
#[derive(Clone, Debug, Default)]
pub struct SchedulerEnv {
    /// Slurm job arrays: this task's index and the array's task count.
    pub slurm_task_id: Option<String>,
    pub slurm_task_count: Option<String>,
    /// Slurm's lowest index (arrays may start at 1: `--array=1-8`).
    pub slurm_task_min: Option<String>,
    /// Kubernetes Indexed Jobs: this pod's completion index.
    pub job_completion_index: Option<String>,
}

impl SchedulerEnv {
    pub fn from_process() -> Self {
        let v = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        Self {
            slurm_task_id: v("SLURM_ARRAY_TASK_ID"),
            slurm_task_count: v("SLURM_ARRAY_TASK_COUNT"),
            slurm_task_min: v("SLURM_ARRAY_TASK_MIN"),
            job_completion_index: v("JOB_COMPLETION_INDEX"),
        }
    }
}

impl Shard {
    /// `INDEX/COUNT`, or `auto`: Slurm's array variables, else Kubernetes'
    /// `JOB_COMPLETION_INDEX` with `count` (the Job's `completions`, given by
    /// `--shard-count`). Out-of-range values are errors naming what was read.
    pub fn parse(s: &str, count: Option<u32>, env: &SchedulerEnv) -> Result<Self> {
        let num = |what: &str, v: &str| -> Result<u32> {
            v.trim().parse().map_err(|_| Error::Config(format!("--shard: {what} '{v}' is not a number")))
        };
        let shard = if s == "auto" {
            if let (Some(id), Some(n)) = (&env.slurm_task_id, &env.slurm_task_count) {
                let min = env.slurm_task_min.as_deref().map(|m| num("SLURM_ARRAY_TASK_MIN", m)).transpose()?;
                let id = num("SLURM_ARRAY_TASK_ID", id)?;
                Shard { index: id - min.unwrap_or(0).min(id), count: num("SLURM_ARRAY_TASK_COUNT", n)? }
            } else if let Some(i) = &env.job_completion_index {
                let count = count.ok_or_else(|| {
                    Error::Config(
                        "--shard auto with JOB_COMPLETION_INDEX needs --shard-count (the Job's completions)".into(),
                    )
                })?;
                Shard { index: num("JOB_COMPLETION_INDEX", i)?, count }
            } else {
                return Err(Error::Config(
                    "--shard auto: neither SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT nor JOB_COMPLETION_INDEX is set"
                        .into(),
                ));
            }
        } else {
            let (i, n) = s
                .split_once('/')
                .ok_or_else(|| Error::Config(format!("--shard '{s}': expected INDEX/COUNT or auto")))?;
            Shard { index: num("index", i)?, count: num("count", n)? }
        };
        if shard.count == 0 || shard.index >= shard.count {
            return Err(Error::Config(format!("--shard {shard}: the index must be below the count (0-based)")));
        }
        Ok(shard)
    }

    pub fn takes(&self, key: &str) -> bool {
        fnv1a(key.as_bytes()) % self.count as u64 == self.index as u64
    }

    /// The name of this shard's ledger file in the output folder.
    pub fn ledger_name(&self) -> String {
        format!("_manifest.shard-{:04}-of-{:04}.jsonl", self.index, self.count)
    }
}

/// FNV-1a, 64 bit: tiny, stable across platforms and releases (unlike std's hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_and_scheduler_shards() {
        let none = SchedulerEnv::default();
        assert_eq!(Shard::parse("2/5", None, &none).unwrap(), Shard { index: 2, count: 5 });
        assert!(Shard::parse("5/5", None, &none).is_err());
        assert!(Shard::parse("x", None, &none).is_err());
        assert!(Shard::parse("auto", None, &none).unwrap_err().to_string().contains("SLURM_ARRAY_TASK_ID"));
        let slurm = SchedulerEnv {
            slurm_task_id: Some("4".into()),
            slurm_task_count: Some("4".into()),
            slurm_task_min: Some("1".into()),
            ..Default::default()
        };
        assert_eq!(Shard::parse("auto", None, &slurm).unwrap(), Shard { index: 3, count: 4 }, "--array=1-4");
        let k8s = SchedulerEnv { job_completion_index: Some("0".into()), ..Default::default() };
        assert!(Shard::parse("auto", None, &k8s).is_err(), "needs the count");
        assert_eq!(Shard::parse("auto", Some(3), &k8s).unwrap(), Shard { index: 0, count: 3 });
    }

    #[test]
    fn every_key_lands_in_exactly_one_shard_and_the_split_is_even() {
        let keys: Vec<String> = (0..3000).map(|i| format!("study/p{i:04}/session.mp4")).collect();
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0usize; 3];
        for k in &keys {
            let owners: Vec<usize> = (0..3).filter(|&s| shards[s].takes(k)).collect();
            assert_eq!(owners.len(), 1, "{k}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (900..1100).contains(&n)), "{sizes:?}");
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c, "FNV-1a's published value for \"a\"");
    }
}
