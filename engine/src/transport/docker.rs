//! The container transports: `docker=CONTAINER`, `podman=CONTAINER` and
//! `kubectl=POD[/CONTAINER]`. Each runs the container tool's `exec -i` as a local child
//! (the same child handling as popen: own session, killed with execdeck), and the
//! interpreter inside the container reads the bootstrap line from the tool's stdin:
//! zero-install, as everywhere. When the tool's connection ends (terminate, or
//! execdeck died) the worker's stdin closes inside the container and the stub's
//! watchdog ends it and everything it started there.

use crate::error::Result;
use crate::spec::{Spec, Transport};
use crate::transport::link::{Link, ONE_LINER, python_label, shell_command};
use crate::transport::start::Start;

/// The argv that enters the container and starts the interpreter: for example
/// `docker exec -i -u lab -e EXECDECK_WORKER=TOKEN web python3 -u -c ONE_LINER`, or
/// `kubectl exec -i -n NS POD -c CONTAINER -- env EXECDECK_WORKER=TOKEN sh -c …`.
/// `token` is handed to the worker as its `EXECDECK_WORKER`, so that everything it
/// starts in the container carries it (what the stub's watchdog looks for).
pub fn container_argv(spec: &Spec, token: &str) -> Vec<String> {
    let env = format!("EXECDECK_WORKER={token}");
    let mut argv: Vec<String> = Vec::new();
    let mut interp: Vec<String> = match &spec.python {
        Some(words) => {
            let mut w = words.clone();
            w.push("-u".into());
            if spec.dont_write_bytecode {
                w.push("-B".into());
            }
            w.extend(["-c".to_string(), ONE_LINER.to_string()]);
            w
        }
        None => vec!["sh".into(), "-c".into(), shell_command(spec)],
    };
    if let Some(user) = &spec.sudo {
        interp = crate::transport::sudo::wrap_argv(user, &interp);
    }
    match &spec.transport {
        Transport::Docker(c) | Transport::Podman(c) => {
            argv.push(spec.transport.name().into());
            argv.extend(["exec".to_string(), "-i".to_string()]);
            if let Some(u) = &spec.container.user {
                argv.extend(["-u".to_string(), u.clone()]);
            }
            argv.extend(["-e".to_string(), env, c.clone()]);
        }
        Transport::Kubectl(target) => {
            argv.extend(["kubectl", "exec", "-i"].map(String::from));
            if let Some(ns) = &spec.container.namespace {
                argv.extend(["-n".to_string(), ns.clone()]);
            }
            let (pod, container) = match target.split_once('/') {
                Some((p, c)) => (p, Some(c)),
                None => (target.as_str(), None),
            };
            argv.push(pod.to_string());
            if let Some(c) = container {
                argv.extend(["-c".to_string(), c.to_string()]);
            }
            // kubectl exec cannot set the environment: env(1) in the container does
            argv.extend(["--".to_string(), "env".to_string(), env]);
        }
        _ => {}
    }
    argv.append(&mut interp);
    argv
}

/// Starts the interpreter in the container and bootstraps it.
pub(crate) async fn start(req: &Start<'_>) -> Result<Link> {
    let token = crate::process::new_worker_token();
    let argv = container_argv(req.spec, &token);
    let label = format!(
        "{} in {} {}",
        python_label(req.spec),
        req.spec.transport.name(),
        req.spec.transport.target()
    );
    crate::transport::popen::start_command(req, argv, label, token).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(spec: &str) -> Vec<String> {
        container_argv(&spec.parse().expect("spec"), "T")
    }

    #[test]
    fn docker_and_podman() {
        assert_eq!(
            argv("docker=web//python=python3//user=lab"),
            [
                "docker",
                "exec",
                "-i",
                "-u",
                "lab",
                "-e",
                "EXECDECK_WORKER=T",
                "web",
                "python3",
                "-u",
                "-c",
                ONE_LINER
            ]
        );
        let a = argv("podman=db");
        assert_eq!(
            &a[..6],
            ["podman", "exec", "-i", "-e", "EXECDECK_WORKER=T", "db"]
        );
        assert_eq!(&a[6..8], ["sh", "-c"]);
        assert!(a[8].contains("command -v python3"), "{a:?}");
    }

    #[test]
    fn kubectl() {
        assert_eq!(
            argv("kubectl=api-0/app//namespace=prod//python=/usr/bin/python3//dont_write_bytecode"),
            [
                "kubectl",
                "exec",
                "-i",
                "-n",
                "prod",
                "api-0",
                "-c",
                "app",
                "--",
                "env",
                "EXECDECK_WORKER=T",
                "/usr/bin/python3",
                "-u",
                "-B",
                "-c",
                ONE_LINER
            ]
        );
        let a = argv("kubectl=api-0");
        assert_eq!(&a[..6], ["kubectl", "exec", "-i", "api-0", "--", "env"]);
    }

    #[test]
    fn bad_container_specs() {
        let err = |s: &str| s.parse::<Spec>().expect_err(s).to_string();
        assert!(err("docker=-it").contains("plain name"));
        assert!(err("kubectl=a/b/c").contains("POD or POD/CONTAINER"));
        assert!(err("kubectl=a/").contains("POD or POD/CONTAINER"));
        assert!(err("docker=x//namespace=y").contains("namespace= works with kubectl= only"));
        assert!(err("kubectl=x//user=y").contains("user= works with docker= and podman= only"));
        assert!(err("popen//user=y").contains("sudo=USER changes the user"));
        assert!(err("docker=x//ssh=h").contains("more than one transport"));
        assert!(err("docker=a b").contains("plain name"));
    }
}
