//! Rosetta grid: one snippet on several gateways, side by side — result repr, type,
//! exception and elapsed time per gateway, and which cells differ from the majority.
//!
//! [`Run`] hands out each cell as soon as its gateway answers, so one slow or hung
//! gateway does not hold back the others; a gateway that has not answered by the
//! deadline gets a `timed out` cell. [`run`] waits for the whole grid.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use execdeck_engine::{Gateway, rosetta};
//! let a = Gateway::open("popen//python=python3//id=a").await.unwrap();
//! let b = Gateway::open("popen//python=python3//id=b").await.unwrap();
//! let cells = rosetta::run(&[a.clone(), b.clone()], "6 * 7").await;
//! assert!(cells.iter().all(|c| c.repr.as_deref() == Some("42") && !c.differs));
//! a.terminate(std::time::Duration::from_secs(5)).await;
//! b.terminate(std::time::Duration::from_secs(5)).await;
//! # });
//! ```

use super::gateway::Gateway;
use super::value::Value;
use std::time::Duration;
use tokio::task::{Id, JoinSet};

/// The per-gateway deadline [`run`] uses (and `execdeck rosetta` by default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the snippet like a REPL cell: the value of a final expression is the result.
const SOURCE: &str = r#"import sys, time
code = channel.receive()
t0 = time.time()
try:
    import ast
    tree = compile(code, "<rosetta>", "exec", ast.PyCF_ONLY_AST)
    body = list(tree.body)
    value = None
    if body and isinstance(body[-1], ast.Expr):
        last = ast.Expression(body.pop().value)
        tree.body = body
        ns = {"__name__": "__rosetta__"}
        exec(compile(tree, "<rosetta>", "exec"), ns)
        value = eval(compile(last, "<rosetta>", "eval"), ns)
    else:
        exec(compile(tree, "<rosetta>", "exec"), {"__name__": "__rosetta__"})
    r = repr(value)
    if not isinstance(r, type(u"")):
        r = r.decode("utf-8", "replace")
    channel.send((r, u"" + type(value).__name__, None, time.time() - t0))
except BaseException:
    et, ev = sys.exc_info()[:2]
    msg = u"%s: %s" % (et.__name__, ev)
    channel.send((None, None, msg, time.time() - t0))
"#;

/// One gateway's column.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub gateway: String,
    pub repr: Option<String>,
    pub type_name: Option<String>,
    /// "ExcType: message" when the snippet raised; also why there is no answer (the
    /// gateway died, the deadline passed).
    pub error: Option<String>,
    pub elapsed: Duration,
    /// No answer came before the deadline (`error` says so too).
    pub timed_out: bool,
    /// Differs from the most common outcome (repr, type, error) of the grid.
    pub differs: bool,
}

/// (repr, type, error) of a cell.
type Outcome<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

impl Cell {
    fn new(gateway: String) -> Cell {
        Cell {
            gateway,
            repr: None,
            type_name: None,
            error: None,
            elapsed: Duration::ZERO,
            timed_out: false,
            differs: false,
        }
    }

    fn outcome(&self) -> Outcome<'_> {
        (
            self.repr.as_deref(),
            self.type_name.as_deref(),
            self.error.as_deref(),
        )
    }
}

/// A Rosetta run under way: the snippet runs on every gateway at once and
/// [`Run::next`] gives the cells in the order they finish.
pub struct Run {
    set: JoinSet<(usize, Cell)>,
    /// Which gateway index each task serves (a task that panicked still gets a cell).
    tasks: Vec<(Id, usize, String)>,
    cells: Vec<Option<Cell>>,
}

impl Run {
    /// Starts `code` on every gateway. `deadline` bounds each gateway's answer (`None`:
    /// wait as long as it takes).
    pub fn start(gateways: &[Gateway], code: &str, deadline: Option<Duration>) -> Run {
        let mut set = JoinSet::new();
        let mut tasks = Vec::new();
        for (i, gw) in gateways.iter().enumerate() {
            let gw = gw.clone();
            let code = code.to_string();
            let id = gw.id().to_string();
            let handle = set.spawn(async move { (i, one(&gw, &code, deadline).await) });
            tasks.push((handle.id(), i, id));
        }
        Run {
            set,
            tasks,
            cells: vec![None; gateways.len()],
        }
    }

    /// The next cell to finish, with the index of its gateway; `None` once every
    /// gateway has its cell. `differs` is not known yet here (see [`Run::cells`]).
    pub async fn next(&mut self) -> Option<(usize, Cell)> {
        let (i, cell) = match self.set.join_next_with_id().await? {
            Ok((_, (i, cell))) => (i, cell),
            Err(e) => {
                let (i, gateway) = self
                    .tasks
                    .iter()
                    .find(|t| t.0 == e.id())
                    .map(|t| (t.1, t.2.clone()))?;
                let mut cell = Cell::new(gateway);
                cell.error = Some(format!("rosetta task failed: {e}"));
                (i, cell)
            }
        };
        if let Some(slot) = self.cells.get_mut(i) {
            *slot = Some(cell.clone());
        }
        Some((i, cell))
    }

    /// Every cell in gateway order (waiting for those not in yet), the ones that differ
    /// from the majority marked.
    pub async fn cells(mut self) -> Vec<Cell> {
        while self.next().await.is_some() {}
        let cells: Vec<Cell> = self
            .cells
            .into_iter()
            .zip(&self.tasks)
            .map(|(c, t)| c.unwrap_or_else(|| Cell::new(t.2.clone())))
            .collect();
        mark_differences(cells)
    }
}

/// Runs `code` on every gateway at once (each within [`DEFAULT_TIMEOUT`]) and marks the
/// cells that differ from the majority.
pub async fn run(gateways: &[Gateway], code: &str) -> Vec<Cell> {
    Run::start(gateways, code, Some(DEFAULT_TIMEOUT))
        .cells()
        .await
}

/// Sets `differs` on the cells unlike the most common outcome (none when tied).
pub fn mark_differences(mut cells: Vec<Cell>) -> Vec<Cell> {
    let majority = {
        let mut counts: Vec<(Outcome<'_>, usize)> = Vec::new();
        for c in &cells {
            match counts.iter_mut().find(|(o, _)| *o == c.outcome()) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.outcome(), 1)),
            }
        }
        let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
        // a tie has no majority: nothing is highlighted
        let winners: Vec<_> = counts.iter().filter(|c| c.1 == best).collect();
        (winners.len() == 1).then(|| {
            let o = winners[0].0;
            (
                o.0.map(str::to_string),
                o.1.map(str::to_string),
                o.2.map(str::to_string),
            )
        })
    };
    for c in &mut cells {
        c.differs = match &majority {
            Some((r, t, e)) => {
                (c.repr.as_ref(), c.type_name.as_ref(), c.error.as_ref())
                    != (r.as_ref(), t.as_ref(), e.as_ref())
            }
            None => false,
        };
    }
    cells
}

async fn one(gw: &Gateway, code: &str, deadline: Option<Duration>) -> Cell {
    let mut cell = Cell::new(gw.id().to_string());
    let t0 = std::time::Instant::now();
    let reply = async {
        let ch = gw.remote_exec(SOURCE).await?;
        ch.send(&Value::Str(code.to_string())).await?;
        ch.receive().await
    };
    let reply = match deadline {
        Some(d) => match tokio::time::timeout(d, reply).await {
            Ok(r) => r,
            Err(_) => {
                cell.timed_out = true;
                cell.elapsed = t0.elapsed();
                cell.error = Some(format!("timed out after {} s", d.as_secs_f64()));
                return cell;
            }
        },
        None => reply.await,
    };
    match reply {
        Ok(Value::Tuple(t)) if t.len() == 4 => {
            cell.repr = t[0].as_str().map(str::to_string);
            cell.type_name = t[1].as_str().map(str::to_string);
            cell.error = t[2].as_str().map(str::to_string);
            cell.elapsed = match &t[3] {
                Value::Float(f) if f.is_finite() && *f >= 0.0 => Duration::from_secs_f64(*f),
                _ => Duration::ZERO,
            };
        }
        Ok(other) => cell.error = Some(format!("unexpected reply {other}")),
        Err(e) => cell.error = Some(e.to_string()),
    }
    cell
}
