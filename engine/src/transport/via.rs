//! The via transport (`via=GWID`): start a sub-interpreter through another gateway of
//! the group. A forwarder program there (`remote_stub/proxy.py`, execnet's proxy
//! protocol shape) starts the interpreter and carries its bytes as items of one
//! channel; a control channel takes kill / wait / close-write requests.

use crate::codec::StrConfig;
use crate::error::{Error, Result};
use crate::gateway::handle::Gateway;
use crate::transport::link::{CloseReason, Link, python_label};
use crate::transport::start::Start;
use crate::value::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The via= forwarder program (execnet's proxy protocol shape).
pub const PROXY_SOURCE: &str = include_str!("../../remote_stub/proxy.py");

/// Bootstraps a sub-gateway through `via`: a forwarder task there starts the
/// interpreter and carries its bytes as items of one channel; a control channel takes
/// kill / wait / close-write requests.
pub(crate) async fn start(req: &Start<'_>, via: &Gateway) -> Result<Link> {
    let (spec, id, line, timeout) = (req.spec, req.id, req.line, req.timeout);
    let hop = |e: Error| Error::Unsupported(format!("gateway {id}: via {} failed: {e}", via.id()));
    let p = via.remote_exec(PROXY_SOURCE).await.map_err(hop)?;
    // bytes stay bytes, also from a Python 2 forwarder
    p.reconfigure(StrConfig {
        py2str_as_py3str: false,
        py3str_as_py2str: false,
    })
    .await
    .map_err(hop)?;
    let python = spec
        .python
        .clone()
        .unwrap_or_else(|| vec!["python3".to_string()]);
    p.send(&Value::Dict(vec![
        (
            Value::Str("python".into()),
            Value::List(python.into_iter().map(Value::Str).collect()),
        ),
        (Value::Str("id".into()), Value::Str(id.to_string())),
    ]))
    .await
    .map_err(hop)?;
    let control = via.new_channel();
    p.send(&Value::Channel(control.id())).await.map_err(hop)?;
    p.send(&Value::Bytes(line.to_vec())).await.map_err(hop)?;
    let ack = match tokio::time::timeout(timeout, p.receive()).await {
        Ok(Ok(Value::Bytes(b))) if b == b"1" => b,
        Ok(Ok(other)) => {
            return Err(hop(Error::Protocol(format!(
                "the forwarder answered {other} instead of b'1'"
            ))));
        }
        Ok(Err(e)) => return Err(hop(e)),
        Err(_) => {
            let _ = control.send(&Value::Int(1)).await;
            return Err(Error::BootstrapTimeout {
                gateway: id.to_string(),
                command: format!("{} (via {})", python_label(spec), via.id()),
                timeout,
                stderr: String::new(),
            });
        }
    };
    drop(ack);
    let (ours, theirs) = tokio::net::UnixStream::pair().map_err(Error::Io)?;
    let (mut our_r, mut our_w) = ours.into_split();
    // gateway -> forwarder
    let (p_out, c_out) = (p.clone(), control.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match our_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if p_out.send(&Value::Bytes(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        // our side closed its input: close the sub's stdin (RIO_CLOSE_WRITE)
        let _ = c_out.send(&Value::Int(4)).await;
    });
    // forwarder -> gateway
    tokio::spawn(async move {
        while let Ok(Some(v)) = p.next().await {
            if let Value::Bytes(b) = v
                && our_w.write_all(&b).await.is_err()
            {
                break;
            }
        }
        let _ = our_w.shutdown().await;
    });
    let (r, w) = theirs.into_split();
    Ok(Link::remote(
        Box::new(r),
        Box::new(w),
        CloseReason::default(),
    ))
}
