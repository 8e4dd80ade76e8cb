//! A kubeconfig for the simulated cluster: one cluster (plain HTTP on
//! loopback, TLS verification off), one user with a static bearer token, one
//! context, made current — what `kube::Config::from_custom_kubeconfig`,
//! `Kubeconfig::read_from` and kubectl accept.

use super::error::ServerError;
use serde::Serialize;
use std::path::Path;

/// The bearer token of the kubeconfig written by [`write_kubeconfig`].
pub const SIM_TOKEN: &str = "edgeheal-sim-token";
/// The name of the cluster, user and context in the kubeconfig.
pub const SIM_CONTEXT: &str = "edgeheal-sim";

#[derive(Serialize)]
struct Kubeconfig<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: &'a str,
    clusters: [Named<'a, Cluster<'a>>; 1],
    users: [Named<'a, User<'a>>; 1],
    contexts: [Named<'a, Context<'a>>; 1],
    #[serde(rename = "current-context")]
    current_context: &'a str,
    preferences: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Named<'a, T> {
    name: &'a str,
    #[serde(flatten)]
    item: T,
}

#[derive(Serialize)]
struct Cluster<'a> {
    cluster: ClusterBody<'a>,
}

#[derive(Serialize)]
struct ClusterBody<'a> {
    server: &'a str,
    #[serde(rename = "insecure-skip-tls-verify")]
    insecure_skip_tls_verify: bool,
}

#[derive(Serialize)]
struct User<'a> {
    user: UserBody<'a>,
}

#[derive(Serialize)]
struct UserBody<'a> {
    token: &'a str,
}

#[derive(Serialize)]
struct Context<'a> {
    context: ContextBody<'a>,
}

#[derive(Serialize)]
struct ContextBody<'a> {
    cluster: &'a str,
    user: &'a str,
    namespace: &'a str,
}

/// The kubeconfig text for `server_url` with bearer `token`.
pub fn kubeconfig_yaml(server_url: &str, token: &str) -> Result<String, ServerError> {
    let cfg = Kubeconfig {
        api_version: "v1",
        kind: "Config",
        clusters: [Named {
            name: SIM_CONTEXT,
            item: Cluster {
                cluster: ClusterBody {
                    server: server_url,
                    insecure_skip_tls_verify: true,
                },
            },
        }],
        users: [Named {
            name: SIM_CONTEXT,
            item: User {
                user: UserBody { token },
            },
        }],
        contexts: [Named {
            name: SIM_CONTEXT,
            item: Context {
                context: ContextBody {
                    cluster: SIM_CONTEXT,
                    user: SIM_CONTEXT,
                    namespace: "default",
                },
            },
        }],
        current_context: SIM_CONTEXT,
        preferences: Default::default(),
    };
    let yaml = serde_norway::to_string(&cfg).map_err(ServerError::Kubeconfig)?;
    Ok(format!(
        "# edgeheal simulated cluster (a simulator, not a real Kubernetes cluster)\n{yaml}"
    ))
}

/// Writes a kubeconfig for the simulated cluster at `server_url`
/// (`http://127.0.0.1:PORT`) with the static token [`SIM_TOKEN`].
pub fn write_kubeconfig(path: &Path, server_url: &str) -> Result<(), ServerError> {
    let text = kubeconfig_yaml(server_url, SIM_TOKEN)?;
    std::fs::write(path, text).map_err(|source| ServerError::WriteKubeconfig {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_has_the_expected_keys() {
        let text = kubeconfig_yaml("http://127.0.0.1:6443", "t0k").unwrap_or_default();
        let v: serde_json::Value = serde_norway::from_str(&text).unwrap_or_default();
        let cases: &[(&str, serde_json::Value)] = &[
            ("/kind", "Config".into()),
            ("/current-context", SIM_CONTEXT.into()),
            ("/clusters/0/cluster/server", "http://127.0.0.1:6443".into()),
            ("/clusters/0/cluster/insecure-skip-tls-verify", true.into()),
            ("/users/0/user/token", "t0k".into()),
            ("/contexts/0/context/cluster", SIM_CONTEXT.into()),
            ("/contexts/0/context/user", SIM_CONTEXT.into()),
        ];
        for (ptr, want) in cases {
            assert_eq!(v.pointer(ptr), Some(want), "{ptr}");
        }
    }
}
