//! Rosetta grid: one snippet on several gateways, side by side — result repr, type,
//! exception and elapsed time per gateway, and which cells differ from the majority.
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
    /// "ExcType: message" when the snippet raised.
    pub error: Option<String>,
    pub elapsed: Duration,
    /// Differs from the most common outcome (repr, type, error) of the grid.
    pub differs: bool,
}

/// (repr, type, error) of a cell.
type Outcome<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>);

impl Cell {
    fn outcome(&self) -> Outcome<'_> {
        (
            self.repr.as_deref(),
            self.type_name.as_deref(),
            self.error.as_deref(),
        )
    }
}

/// Runs `code` on every gateway at once and marks the cells that differ from the
/// majority.
pub async fn run(gateways: &[Gateway], code: &str) -> Vec<Cell> {
    let mut set = tokio::task::JoinSet::new();
    for (i, gw) in gateways.iter().enumerate() {
        let gw = gw.clone();
        let code = code.to_string();
        set.spawn(async move { (i, one(&gw, &code).await) });
    }
    let mut cells: Vec<(usize, Cell)> = Vec::new();
    while let Some(Ok(c)) = set.join_next().await {
        cells.push(c);
    }
    cells.sort_by_key(|c| c.0);
    let mut cells: Vec<Cell> = cells.into_iter().map(|c| c.1).collect();
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
    if let Some((r, t, e)) = majority {
        for c in &mut cells {
            c.differs = (c.repr.clone(), c.type_name.clone(), c.error.clone())
                != (r.clone(), t.clone(), e.clone());
        }
    }
    cells
}

async fn one(gw: &Gateway, code: &str) -> Cell {
    let mut cell = Cell {
        gateway: gw.id().to_string(),
        repr: None,
        type_name: None,
        error: None,
        elapsed: Duration::ZERO,
        differs: false,
    };
    let reply = async {
        let ch = gw.remote_exec(SOURCE).await?;
        ch.send(&Value::Str(code.to_string())).await?;
        ch.receive_timeout(Duration::from_secs(60)).await
    }
    .await;
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
