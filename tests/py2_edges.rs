//! Python 2 senders: a lone surrogate is a clean remote DumpError (the worker lives on),
//! and keys that became equal when Python 2 `str` turned into text collapse as
//! execnet's loader collapses them (last value wins; a set keeps one).

mod common;

use execdeck::engine::{Gateway, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

struct Kill(Gateway);
impl Drop for Kill {
    fn drop(&mut self) {
        self.0.kill();
    }
}

async fn open(version: &str) -> Option<Kill> {
    let py = common::require(
        &common::pyenv_python(version),
        &format!("CPython {version}"),
    )?;
    Some(Kill(
        Gateway::open(&format!("popen//python={py}"))
            .await
            .expect("open"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_surrogate_from_python_2_is_a_dump_error_not_a_dead_worker() {
    let Some(gw) = open("2.7.18").await else {
        return;
    };
    let ch =
        gw.0.remote_exec("channel.send(u'\\ud800')")
            .await
            .expect("exec");
    let err = ch
        .receive_timeout(T)
        .await
        .expect_err("a lone surrogate cannot be sent");
    assert!(err.to_string().contains("DumpError"), "{err}");
    // the worker is alive and still answers; a paired surrogate is a real character
    let ch =
        gw.0.remote_exec("channel.send(u'\\ud83d\\ude00' + u'\\U0001f600')")
            .await
            .expect("exec");
    assert_eq!(
        ch.receive_timeout(T).await.expect("item"),
        Value::Str("😀😀".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn str_and_unicode_keys_from_python_2_collapse_like_execnet() {
    let Some(gw) = open("2.7.18").await else {
        return;
    };
    let ch =
        gw.0.remote_exec(
            "d = {}\nd['\\xe9'] = 1\nd[u'\\xe9'] = 2\nd['k'] = [set(['\\xe9', u'\\xe9'])]\n\
             channel.send(d)",
        )
        .await
        .expect("exec");
    let v = ch.receive_timeout(T).await.expect("item");
    // which of the two equal keys Python 2 iterates first decides the value execnet
    // keeps; the shape is what matters: one key, one member
    let Value::Dict(items) = &v else {
        panic!("{v}")
    };
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0].0, Value::Str("é".into()), "{v}");
    let Value::List(l) = &items[1].1 else {
        panic!("{v}")
    };
    assert_eq!(l[0], Value::Set(vec![Value::Str("é".into())]), "{v}");
}
