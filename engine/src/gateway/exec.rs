//! Running code in the worker: channels, `remote_exec` and its variants, STATUS, the
//! interpreter facts and string configuration.

use crate::channel::Channel;
use crate::channel::state::{ChanState, Ending};
use crate::codec::{self, StrConfig};
use crate::error::Result;
use crate::frame::MsgCode;
use crate::gateway::facts::{FACTS_SOURCE, Facts};
use crate::gateway::handle::{Gateway, gone_reason};
use crate::value::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Removes the common leading whitespace of all non-blank lines, as Python's
/// `textwrap.dedent` does: the margin is a common prefix string (tabs and spaces are
/// not interchangeable), and whitespace-only lines become empty.
pub fn dedent(src: &str) -> String {
    let mut margin: Option<&str> = None;
    for line in src.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
        margin = Some(match margin {
            None => indent,
            Some(m) => {
                let common = m
                    .char_indices()
                    .zip(indent.chars())
                    .find(|((_, a), b)| a != b)
                    .map_or(m.len().min(indent.len()), |((i, _), _)| i);
                &m[..common]
            }
        });
    }
    let margin = margin.unwrap_or("");
    src.split_inclusive('\n')
        .map(|l| {
            let body = l.strip_suffix('\n').unwrap_or(l);
            if body.trim().is_empty() {
                if l.ends_with('\n') { "\n" } else { "" }
            } else {
                l.strip_prefix(margin).unwrap_or(l)
            }
        })
        .collect()
}

impl Gateway {
    /// Allocates a new channel (odd ids) without telling the worker yet; pass it inside
    /// data as [`Value::Channel`] to connect it.
    pub fn new_channel(&self) -> Channel {
        let mut t = self.table();
        let id = t.next_id;
        t.next_id += 2;
        let st = Arc::new(ChanState::new(id, t.strconfig));
        match gone_reason(&t.state) {
            // a dead gateway's channels are born ended, never waited on forever
            Some(reason) => st.end(Ending::GatewayGone(reason)),
            None => {
                t.channels.insert(id, st.clone());
            }
        }
        Channel {
            gw: self.clone(),
            state: st,
        }
    }

    /// The channel for an id received inside data ([`Value::Channel`]).
    pub fn channel(&self, id: i32) -> Channel {
        let mut t = self.table();
        let strconfig = t.strconfig;
        let st = match gone_reason(&t.state) {
            Some(reason) => {
                let st = Arc::new(ChanState::new(id, strconfig));
                st.end(Ending::GatewayGone(reason));
                st
            }
            None => t
                .channels
                .entry(id)
                .or_insert_with(|| Arc::new(ChanState::new(id, strconfig)))
                .clone(),
        };
        Channel {
            gw: self.clone(),
            state: st,
        }
    }

    /// Ids of the channels currently known.
    pub fn channel_ids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.table().channels.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Runs `source` in the worker (dedented, as execnet does); the code sees the
    /// returned channel as `channel`.
    pub async fn remote_exec(&self, source: &str) -> Result<Channel> {
        self.remote_exec_call(&dedent(source), None, None, Vec::new())
            .await
    }

    /// Like [`remote_exec`](Self::remote_exec), with the channel's items decoded by
    /// `cfg` from the very first one (here only; the worker keeps its defaults). A
    /// bridge source uses this so that no Python 2 `str` arrives decoded too early.
    pub async fn remote_exec_with_strconfig(
        &self,
        source: &str,
        cfg: StrConfig,
    ) -> Result<Channel> {
        self.exec_on(&dedent(source), None, None, Vec::new(), Some(cfg))
            .await
    }

    /// The general form: source, a file name for tracebacks, and a function to call
    /// as `name(channel, **kwargs)` after executing the source.
    pub async fn remote_exec_call(
        &self,
        source: &str,
        file_name: Option<&str>,
        call_name: Option<&str>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Channel> {
        self.exec_on(source, file_name, call_name, kwargs, None)
            .await
    }

    async fn exec_on(
        &self,
        source: &str,
        file_name: Option<&str>,
        call_name: Option<&str>,
        kwargs: Vec<(String, Value)>,
        strconfig: Option<StrConfig>,
    ) -> Result<Channel> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let ch = self.new_channel();
        if let Some(cfg) = strconfig {
            ch.state.lock().strconfig = Some(cfg);
        }
        let opt = |s: Option<&str>| s.map(|s| Value::Str(s.to_string())).unwrap_or(Value::None);
        let payload = codec::encode(&Value::Tuple(vec![
            Value::Str(source.to_string()),
            opt(file_name),
            opt(call_name),
            Value::Dict(
                kwargs
                    .into_iter()
                    .map(|(k, v)| (Value::Str(k), v))
                    .collect(),
            ),
        ]))?;
        self.write_frame(MsgCode::ChannelExec, ch.id(), &payload)
            .await?;
        Ok(ch)
    }

    /// STATUS: `{'numchannels': .., 'numexecuting': .., 'execmodel': ..}` from the worker,
    /// answered by its receiver even while code runs.
    pub async fn status(&self) -> Result<Value> {
        let ch = self.new_channel();
        let v = match self.write_frame(MsgCode::Status, ch.id(), b"").await {
            Ok(()) => ch.receive().await,
            Err(e) => Err(e),
        };
        self.table().channels.remove(&ch.id());
        v
    }

    /// Interpreter facts, fetched once and cached.
    pub async fn facts(&self) -> Result<Facts> {
        self.inner
            .facts
            .get_or_try_init(|| async {
                let ch = self.remote_exec(FACTS_SOURCE).await?;
                let v = ch.receive_timeout(Duration::from_secs(60)).await?;
                // wait for the task's end too: the main thread is free again after it
                ch.wait_closed(Some(Duration::from_secs(60))).await?;
                Facts::from_reply(&v)
            })
            .await
            .cloned()
    }

    /// Sets the string config for channels created from now on, here and in the worker
    /// (RECONFIGURE on channel 0).
    pub async fn reconfigure(&self, cfg: StrConfig) -> Result<()> {
        self.table().strconfig = cfg;
        self.send_reconfigure(0, cfg).await
    }

    /// Like [`remote_exec`](Self::remote_exec), but the channel's items and its end
    /// arrive as [`Event::Item`](crate::events::Event::Item) / [`Event::ChannelEnded`](crate::events::Event::ChannelEnded) on the event sink, in wire
    /// order with the output of the same gateway (needs `GatewayOptions::events`).
    pub async fn remote_exec_forwarded(&self, source: &str) -> Result<Channel> {
        if let Some(e) = self.closed_error() {
            return Err(e);
        }
        let ch = self.new_channel();
        ch.state.forward.store(true, Ordering::Relaxed);
        let payload = codec::encode(&Value::Tuple(vec![
            Value::Str(dedent(source)),
            Value::None,
            Value::None,
            Value::Dict(vec![]),
        ]))?;
        self.write_frame(MsgCode::ChannelExec, ch.id(), &payload)
            .await?;
        Ok(ch)
    }
}
