//! Minimum-cost assignment (Kuhn–Munkres with potentials, O(n²m)) for small rectangular
//! cost matrices: rows are existing tracks, columns are this frame's detections.

/// For each row, the column assigned to it (`None` when there are more rows than columns
/// and the row was left out). Minimises the total cost; every column is used at most once.
pub fn assign(cost: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = cost.len();
    if rows == 0 {
        return Vec::new();
    }
    let cols = cost[0].len();
    if cols == 0 {
        return vec![None; rows];
    }
    if rows > cols {
        // solve the transpose, then invert the matching
        let t: Vec<Vec<f64>> = (0..cols).map(|c| (0..rows).map(|r| cost[r][c]).collect()).collect();
        let by_col = assign(&t);
        let mut out = vec![None; rows];
        for (c, r) in by_col.into_iter().enumerate() {
            if let Some(r) = r {
                out[r] = Some(c);
            }
        }
        return out;
    }
    // rows <= cols; 1-based arrays as in the classic formulation
    let (n, m) = (rows, cols);
    let inf = f64::INFINITY;
    let mut u = vec![0.0; n + 1];
    let mut v = vec![0.0; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![inf; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = inf;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cost: &[Vec<f64>], a: &[Option<usize>]) -> f64 {
        a.iter().enumerate().filter_map(|(r, c)| c.map(|c| cost[r][c])).sum()
    }

    /// Exhaustive minimum over injective row->column maps (rows <= cols).
    fn brute(cost: &[Vec<f64>], r: usize, used: &mut Vec<bool>) -> f64 {
        if r == cost.len() {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for c in 0..used.len() {
            if !used[c] {
                used[c] = true;
                best = best.min(cost[r][c] + brute(cost, r + 1, used));
                used[c] = false;
            }
        }
        best
    }

    #[test]
    fn greedy_trap_is_solved_optimally() {
        // greedy takes (0,0)=1 then (1,1)=10; optimal is 2+2
        let cost = vec![vec![1.0, 2.0], vec![2.0, 10.0]];
        assert_eq!(assign(&cost), vec![Some(1), Some(0)]);
    }

    #[test]
    fn matches_brute_force_on_random_rectangles() {
        let mut s = 12345u64;
        let mut rnd = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        for (rows, cols) in [(3, 3), (2, 5), (5, 2), (4, 6), (6, 6)] {
            let cost: Vec<Vec<f64>> = (0..rows).map(|_| (0..cols).map(|_| rnd()).collect()).collect();
            let a = assign(&cost);
            let cols_used: Vec<usize> = a.iter().flatten().copied().collect();
            let mut dedup = cols_used.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), cols_used.len(), "a column used twice");
            assert_eq!(cols_used.len(), rows.min(cols));
            let want = if rows <= cols {
                brute(&cost, 0, &mut vec![false; cols])
            } else {
                let t: Vec<Vec<f64>> = (0..cols).map(|c| (0..rows).map(|r| cost[r][c]).collect()).collect();
                brute(&t, 0, &mut vec![false; rows])
            };
            assert!((total(&cost, &a) - want).abs() < 1e-9, "{rows}x{cols}");
        }
    }
}
