//! A small directed graph in compressed form, for the ladder's acyclicity checks: a topological
//! order (Kahn), or else a shortest cycle through a node that lies on one, as the witness.

use std::collections::VecDeque;

pub(crate) struct Graph {
    off: Vec<u32>,
    to: Vec<u32>,
    roff: Vec<u32>,
    rto: Vec<u32>,
}

fn csr(n: usize, edges: &[(u32, u32)], rev: bool) -> (Vec<u32>, Vec<u32>) {
    let mut off = vec![0u32; n + 1];
    for &(a, b) in edges {
        let from = if rev { b } else { a };
        off[from as usize + 1] += 1;
    }
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut fill = off.clone();
    let mut to = vec![0u32; edges.len()];
    for &(a, b) in edges {
        let (from, dest) = if rev { (b, a) } else { (a, b) };
        to[fill[from as usize] as usize] = dest;
        fill[from as usize] += 1;
    }
    (off, to)
}

impl Graph {
    pub fn new(n: usize, edges: &[(u32, u32)]) -> Graph {
        let (off, to) = csr(n, edges, false);
        let (roff, rto) = csr(n, edges, true);
        Graph { off, to, roff, rto }
    }

    pub fn n(&self) -> usize {
        self.off.len() - 1
    }

    pub fn succs(&self, v: usize) -> &[u32] {
        &self.to[self.off[v] as usize..self.off[v + 1] as usize]
    }

    pub fn preds(&self, v: usize) -> &[u32] {
        &self.rto[self.roff[v] as usize..self.roff[v + 1] as usize]
    }

    /// A topological order of the nodes with `live(v)`, or a shortest cycle among them (as a
    /// list of nodes, each with an edge to the next and the last to the first).
    pub fn topo(&self, live: impl Fn(usize) -> bool) -> Result<Vec<u32>, Vec<u32>> {
        let n = self.n();
        let mut indeg = vec![0u32; n];
        let mut queue: VecDeque<u32> = VecDeque::new();
        let mut total = 0;
        for (v, d) in indeg.iter_mut().enumerate() {
            if !live(v) {
                continue;
            }
            total += 1;
            *d = self.preds(v).iter().filter(|&&u| live(u as usize)).count() as u32;
            if *d == 0 {
                queue.push_back(v as u32);
            }
        }
        let mut order = Vec::with_capacity(total);
        while let Some(v) = queue.pop_front() {
            order.push(v);
            for &w in self.succs(v as usize) {
                if live(w as usize) {
                    indeg[w as usize] -= 1;
                    if indeg[w as usize] == 0 {
                        queue.push_back(w);
                    }
                }
            }
        }
        if order.len() == total {
            return Ok(order);
        }
        // Every node left has a predecessor left: walking back from one must repeat a node,
        // which lies on a cycle.
        let left = |v: usize| live(v) && indeg[v] > 0;
        let start = (0..n).find(|&v| left(v)).expect("a node is left");
        let mut seen = vec![false; n];
        let mut v = start;
        while !seen[v] {
            seen[v] = true;
            v = *self.preds(v).iter().find(|&&u| left(u as usize)).expect("a predecessor is left") as usize;
        }
        Err(self.shortest_cycle(v, &left))
    }

    /// A shortest cycle through `v` (breadth-first over nodes with `allowed`).
    fn shortest_cycle(&self, v: usize, allowed: &dyn Fn(usize) -> bool) -> Vec<u32> {
        let mut parent: rustc_hash::FxHashMap<u32, u32> = Default::default();
        let mut queue = VecDeque::from([v as u32]);
        while let Some(u) = queue.pop_front() {
            for &w in self.succs(u as usize) {
                if !allowed(w as usize) {
                    continue;
                }
                if w as usize == v {
                    let mut cycle = vec![u];
                    let mut at = u;
                    while at as usize != v {
                        at = parent[&at];
                        cycle.push(at);
                    }
                    cycle.reverse();
                    return cycle;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(w) {
                    e.insert(u);
                    queue.push_back(w);
                }
            }
        }
        vec![v as u32]
    }
}
