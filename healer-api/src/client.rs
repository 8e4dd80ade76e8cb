//! A client of the heal API's incident history, for the people on call:
//! `edgeheal-healer incidents` lists incidents and `edgeheal-healer incident ID` shows one with
//! its decisions, actions and the HPA minimums it raised. It signs its `GET`s with SigV4
//! ([`crate::sigv4::sign_bodiless`]: method, path, query and host signed), with a key of the
//! heal API's own keys directory when given its config (run in the heal API's pod, where the
//! keys are mounted: `kubectl exec`), or a key file and a URL (through `kubectl
//! port-forward`). Not with the header HMAC scheme: over a GET's empty body it covers only the
//! time, and a header seen in transit would read any path for the signature window. Answers
//! other than 200 are errors that carry the heal API's own message. It uses no proxy and
//! follows no redirect.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::config::{default_region, default_service, Access, Config};
use crate::keys::{read_key, read_secret, KeyError, KeyRing};

/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The keys could not be read.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// `--key-id` names no key of the keys directory.
    #[error("no key {id:?} in {dir} (it has {have:?})")]
    UnknownKey {
        /// The id asked for.
        id: String,
        /// The keys directory.
        dir: PathBuf,
        /// The ids it has.
        have: Vec<String>,
    },
    /// Every key of the keys directory is one of `auth.ingest_only_keys` (and none was named).
    #[error(
        "every key in {dir} ({have:?}) is in auth.ingest_only_keys and may not read the history: \
         add a key for people (e.g. ops) to the keys Secret and to auth.read_only_keys, \
         or use --url and --key-file with such a key"
    )]
    NoReader {
        /// The keys directory.
        dir: PathBuf,
        /// The ids it has.
        have: Vec<String>,
    },
    /// The base URL is not an `http` or `https` URL.
    #[error("{0}: not an http:// or https:// URL")]
    Url(String),
    /// The request could not be sent or its answer read.
    #[error("{url}: {source}")]
    Http {
        /// The URL asked.
        url: String,
        /// What failed.
        source: reqwest::Error,
    },
    /// The heal API answered other than 200.
    #[error("{url}: {status}: {message}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
        /// The heal API's message (its `message` field), or the start of the body.
        message: String,
    },
    /// The answer is not what the heal API sends.
    #[error("{url}: unexpected answer: {reason}")]
    Answer {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What `GET /v1/incidents` filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// open | acting | verifying | resolved | escalated | failed | superseded.
    pub state: Option<String>,
    /// Exact namespace.
    pub namespace: Option<String>,
    /// Exact entity (`namespace/workload`).
    pub entity: Option<String>,
    /// Incident kind.
    pub kind: Option<String>,
    /// Page size (the heal API takes 1..=[`crate::server::MAX_PAGE`]).
    pub limit: usize,
}

/// A signing client of one heal API.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    key_id: String,
    secret: Vec<u8>,
    /// The SigV4 scope's service and region (the heal API's `auth.service`, `auth.region`).
    service: String,
    region: String,
}

impl Client {
    /// A client of the heal API at `base` (`http://host:port`), signing with `key_id`'s
    /// `secret` for the default SigV4 service and region (`edgeheal`, `local`).
    pub fn new(base: &str, key_id: String, secret: Vec<u8>) -> Result<Self, ClientError> {
        let mut base = reqwest::Url::parse(base).map_err(|_| ClientError::Url(base.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::Url(base.to_string()));
        }
        // Paths are joined below it: `http://h/prefix` is `http://h/prefix/`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        // Straight to the heal API: a proxy (`HTTP_PROXY`) or a redirect would carry the
        // signature elsewhere, where it could be sent on to the heal API within the
        // clock-skew window (for the same request only: SigV4 signs its path, query and host).
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| ClientError::Http {
                url: base.to_string(),
                source,
            })?;
        Ok(Self {
            http,
            base,
            key_id,
            secret,
            service: default_service(),
            region: default_region(),
        })
    }

    /// The same client, signing for SigV4 service `service` and region `region`.
    pub fn signing_for(mut self, service: &str, region: &str) -> Self {
        self.service = service.to_owned();
        self.region = region.to_owned();
        self
    }

    /// A client of the heal API that `config` configures, as seen from its own host: its
    /// `listen` address (an unspecified one, `0.0.0.0` or `[::]`, is reached on loopback),
    /// signing with key `key_id` of its keys directory, or else with the first of its
    /// `auth.read_only_keys` the directory holds, or else the directory's first id in order
    /// that is not one of `auth.ingest_only_keys`.
    pub fn from_config(config: &Config, key_id: Option<&str>) -> Result<Self, ClientError> {
        let dir = &config.auth.keys_dir;
        let ring = KeyRing::load(dir)?;
        let have = ring.ids();
        let read_only = config
            .auth
            .read_only_keys
            .iter()
            .find(|id| have.contains(id));
        let reader = || {
            have.iter()
                .find(|id| config.auth.allows(id, Access::Read))
                .cloned()
                .ok_or_else(|| ClientError::NoReader {
                    dir: dir.clone(),
                    have: have.clone(),
                })
        };
        let id = match key_id.or(read_only.map(String::as_str)) {
            Some(id) => id.to_owned(),
            None => reader()?,
        };
        let secret = ring.secret(&id).ok_or_else(|| ClientError::UnknownKey {
            id: id.clone(),
            dir: dir.clone(),
            have: have.clone(),
        })?;
        Ok(
            Self::new(&format!("http://{}", local(config.listen)), id, secret)?
                .signing_for(&config.auth.service, &config.auth.region),
        )
    }

    /// A client of the heal API at `base`, signing with the key in `key_file`: key `key_id`,
    /// or the one the file's name names.
    pub fn from_key_file(
        base: &str,
        key_file: &Path,
        key_id: Option<&str>,
    ) -> Result<Self, ClientError> {
        let (id, secret) = match key_id {
            Some(id) => (id.to_owned(), read_secret(key_file, id)?),
            None => read_key(key_file)?,
        };
        Self::new(base, id, secret)
    }

    /// The key id it signs with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// One page of `GET /v1/incidents`, newest first, below the id `cursor` when given:
    /// `{"incidents": [...], "next_cursor": id or null}`.
    pub async fn list(&self, q: &ListQuery, cursor: Option<i64>) -> Result<Value, ClientError> {
        let mut url = self.url("v1/incidents")?;
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in [
                ("state", &q.state),
                ("namespace", &q.namespace),
                ("entity", &q.entity),
                ("kind", &q.kind),
            ] {
                if let Some(value) = value {
                    pairs.append_pair(key, value);
                }
            }
            pairs.append_pair("limit", &q.limit.to_string());
            if let Some(cursor) = cursor {
                pairs.append_pair("cursor", &cursor.to_string());
            }
        }
        let page = self.get(url.clone()).await?;
        let well_formed = page["incidents"].is_array()
            && (page["next_cursor"].is_null() || page["next_cursor"].is_i64());
        if !well_formed {
            return Err(ClientError::Answer {
                url: url.to_string(),
                reason: "no `incidents` list or `next_cursor`".into(),
            });
        }
        Ok(page)
    }

    /// Every incident `q` selects, newest first, page by page (at most `max` of them).
    pub async fn list_all(&self, q: &ListQuery, max: usize) -> Result<Vec<Value>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let mut page = self.list(q, cursor).await?;
            let next = page["next_cursor"].as_i64();
            if let Some(items) = page["incidents"].as_array_mut() {
                all.append(items);
            }
            // The cursor only goes down: one that does not is a heal API to stop asking.
            match next {
                Some(n) if all.len() < max && cursor.is_none_or(|c| n < c) => cursor = Some(n),
                _ => break,
            }
        }
        all.truncate(max);
        Ok(all)
    }

    /// `GET /v1/incidents/{id}`: `{"incident", "decisions", "actions", "hpa_raises"}`.
    pub async fn incident(&self, id: i64) -> Result<Value, ClientError> {
        let url = self.url(&format!("v1/incidents/{id}"))?;
        let found = self.get(url.clone()).await?;
        if !found["incident"].is_object() {
            return Err(ClientError::Answer {
                url: url.to_string(),
                reason: "no `incident` object".into(),
            });
        }
        Ok(found)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, ClientError> {
        self.base
            .join(path)
            .map_err(|_| ClientError::Url(format!("{}{path}", self.base)))
    }

    async fn get(&self, url: reqwest::Url) -> Result<Value, ClientError> {
        let at = jiff::Timestamp::now().as_second();
        let http_err = |source| ClientError::Http {
            url: url.to_string(),
            source,
        };
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(port)) => format!("{h}:{port}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(ClientError::Url(url.to_string())),
        };
        let request = crate::sigv4::Bodiless {
            method: "GET",
            host: &host,
            path: url.path(),
            query: url.query(),
        };
        let (authorization, amz_date) = crate::sigv4::sign_bodiless(
            &self.secret,
            &self.key_id,
            &self.region,
            &self.service,
            request,
            at,
        )
        .ok_or_else(|| ClientError::Url(url.to_string()))?;
        let response = self
            .http
            .get(url.clone())
            .header(http::header::HOST, host)
            .header(http::header::AUTHORIZATION, authorization)
            .header("x-amz-date", amz_date)
            .send()
            .await
            .map_err(http_err)?;
        let status = response.status();
        let body = response.bytes().await.map_err(http_err)?;
        if status != reqwest::StatusCode::OK {
            let text = String::from_utf8_lossy(&body);
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.trim().chars().take(300).collect());
            return Err(ClientError::Status {
                url: url.to_string(),
                status,
                message,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Answer {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }
}

/// `addr` as a client on the same host reaches it: an unspecified address on loopback.
fn local(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// A string field of a JSON row, `-` when null or missing.
fn field(row: &Value, key: &str) -> String {
    match &row[key] {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Incidents as a table: one line each, columns padded to their widest cell, the reason
/// last and whole.
pub fn render_list(incidents: &[Value]) -> String {
    const HEADER: [&str; 8] = [
        "ID", "STATE", "KIND", "ENTITY", "POD", "OPENED", "CLOSED", "REASON",
    ];
    let rows: Vec<[String; 8]> = incidents
        .iter()
        .map(|i| {
            let mut entity = field(i, "entity");
            if let Some(found) = i["found_kind"].as_str() {
                let _ = write!(entity, " ({found})");
            }
            [
                field(i, "id"),
                field(i, "state"),
                field(i, "kind"),
                entity,
                field(i, "pod"),
                field(i, "opened_at"),
                field(i, "closed_at"),
                field(i, "reason"),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADER);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// One incident (`GET /v1/incidents/{id}`'s answer) as text: what it is, then its decisions,
/// actions and HPA minimum raises in order.
pub fn render_incident(found: &Value) -> String {
    let i = &found["incident"];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "incident {}: {} on {} ({}{}), {}",
        field(i, "id"),
        field(i, "kind"),
        field(i, "entity"),
        field(i, "workload_kind"),
        i["found_kind"]
            .as_str()
            .map(|k| format!(", found as {k}"))
            .unwrap_or_default(),
        field(i, "state"),
    );
    let _ = writeln!(
        out,
        "  pod {}, {} records, step {}",
        field(i, "pod"),
        field(i, "record_count"),
        field(i, "step")
    );
    let _ = writeln!(
        out,
        "  opened {}, updated {}, closed {}",
        field(i, "opened_at"),
        field(i, "updated_at"),
        field(i, "closed_at")
    );
    if let Some(until) = i["holds_until"].as_str() {
        let _ = writeln!(
            out,
            "  its workload's {} anomalies count onto it until {until}",
            field(i, "kind")
        );
    }
    let _ = writeln!(out, "  reason: {}", field(i, "reason"));
    let section = |out: &mut String, title: &str, rows: &Value, line: &dyn Fn(&Value) -> String| {
        let rows = rows.as_array().map(Vec::as_slice).unwrap_or_default();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for row in rows {
            let _ = writeln!(out, "  {}", line(row));
        }
    };
    section(&mut out, "decisions", &found["decisions"], &|d| {
        format!(
            "{}  step {}  {}  {}: {}",
            field(d, "at"),
            field(d, "step"),
            field(d, "action"),
            field(d, "outcome"),
            field(d, "reason")
        )
    });
    section(&mut out, "actions", &found["actions"], &|a| {
        let mut text = format!(
            "{}  step {}  {} {}  {}  {}, finished {}",
            field(a, "started_at"),
            field(a, "step"),
            field(a, "action"),
            field(a, "target"),
            field(a, "mode"),
            field(a, "result"),
            field(a, "finished_at"),
        );
        if let Some(from) = a["verify_from"].as_str() {
            let _ = write!(text, ", verified from {from}");
        }
        if let Some(detail) = a["detail"].as_str() {
            let _ = write!(text, ": {detail}");
        }
        text
    });
    section(&mut out, "HPA minimum raises", &found["hpa_raises"], &|r| {
        format!(
            "{}  step {}  {} {} -> {} ({}), give back {}: {}",
            field(r, "raised_at"),
            field(r, "step"),
            field(r, "hpa"),
            field(r, "observed_min"),
            field(r, "raised_to"),
            field(r, "mode"),
            field(r, "restore_to"),
            field(r, "state"),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_listen_address_is_reached_from_its_own_host() {
        let at = |s: &str| local(s.parse().unwrap()).to_string();
        assert_eq!(at("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(at("[::]:8080"), "[::1]:8080");
        assert_eq!(at("10.0.0.7:9000"), "10.0.0.7:9000");
    }

    #[test]
    fn only_http_base_urls_are_taken() {
        for bad in ["edgeheal:8080", "ftp://h/", "mailto:x@y", "not a url"] {
            let err = Client::new(bad, "k".into(), b"0123456789abcdef".to_vec()).unwrap_err();
            assert!(matches!(err, ClientError::Url(_)), "{bad}: {err}");
        }
        let c = Client::new("http://h:8080/edgeheal", "k".into(), vec![]).unwrap();
        assert_eq!(
            c.url("v1/incidents").unwrap().as_str(),
            "http://h:8080/edgeheal/v1/incidents"
        );
    }

    #[test]
    fn incidents_render_as_an_aligned_table() {
        let rows = [
            json!({"id": 12, "state": "resolved", "kind": "crash_loop", "entity": "shop/cart",
                   "pod": "cart-7d9f-x2", "opened_at": "2026-11-24T10:00:00Z",
                   "closed_at": "2026-11-24T10:05:00Z", "reason": "verified: no recurrence",
                   "found_kind": "rollout"}),
            json!({"id": 9, "state": "open", "kind": "cpu_saturation", "entity": "ml/recommender",
                   "pod": null, "opened_at": "2026-11-24T09:00:00Z", "closed_at": null,
                   "reason": null}),
        ];
        let text = render_list(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("ID  STATE     KIND            ENTITY"),
            "{text}"
        );
        assert!(
            lines[1].contains("shop/cart (rollout)")
                && lines[1].ends_with("verified: no recurrence"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("9   open      cpu_saturation  ml/recommender"),
            "{text}"
        );
        assert!(lines[2].ends_with("-"), "null cells read -: {text}");
        // Every column starts where its header does.
        let at = lines[0].find("OPENED").unwrap();
        assert_eq!(&lines[1][at..at + 20], "2026-11-24T10:00:00Z");
        assert_eq!(&lines[2][at..at + 20], "2026-11-24T09:00:00Z");
        assert_eq!(
            render_list(&[]).trim_end(),
            "ID  STATE  KIND  ENTITY  POD  OPENED  CLOSED  REASON"
        );
    }

    #[test]
    fn an_incident_renders_with_its_history() {
        let found = json!({
            "incident": {"id": 3, "kind": "traffic_surge", "entity": "shop/storefront",
                "workload_kind": "deployment", "state": "resolved", "pod": null,
                "record_count": 4, "step": 0, "opened_at": "2026-11-24T10:00:00Z",
                "updated_at": "2026-11-24T10:02:00Z", "closed_at": "2026-11-24T10:02:00Z",
                "reason": "verified", "found_kind": null},
            "decisions": [{"at": "2026-11-24T10:00:30Z", "step": 0, "action": "scale_up",
                "outcome": "act", "reason": "3 anomalies in 45s"}],
            "actions": [{"step": 0, "action": "scale_up", "target": "shop/deployment/storefront",
                "mode": "enforce", "started_at": "2026-11-24T10:00:30Z",
                "finished_at": "2026-11-24T10:00:31Z", "verify_from": "2026-11-24T10:01:00Z",
                "result": "ok", "detail": "hpa storefront minReplicas 4 -> 7"}],
            "hpa_raises": [{"step": 0, "hpa": "shop/storefront", "mode": "enforce",
                "raised_at": "2026-11-24T10:00:30Z", "observed_min": 4, "raised_to": 7,
                "restore_to": 4, "state": "held"}],
        });
        let text = render_incident(&found);
        for want in [
            "incident 3: traffic_surge on shop/storefront (deployment), resolved",
            "  pod -, 4 records, step 0",
            "decisions:\n  2026-11-24T10:00:30Z  step 0  scale_up  act: 3 anomalies in 45s",
            "actions:\n  2026-11-24T10:00:30Z  step 0  scale_up shop/deployment/storefront  enforce  ok, finished 2026-11-24T10:00:31Z, verified from 2026-11-24T10:01:00Z: hpa storefront minReplicas 4 -> 7",
            "HPA minimum raises:\n  2026-11-24T10:00:30Z  step 0  shop/storefront 4 -> 7 (enforce), give back 4: held",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let bare = render_incident(&json!({"incident": {"id": 4}, "decisions": [], "actions": []}));
        assert!(
            !bare.contains("decisions:")
                && !bare.contains("actions:")
                && !bare.contains("count onto"),
            "{bare}"
        );
        let held = render_incident(&json!({"incident": {"id": 5, "kind": "error_burst",
            "state": "escalated", "holds_until": "2026-11-24T10:12:00Z"}}));
        assert!(
            held.contains(
                "  its workload's error_burst anomalies count onto it until 2026-11-24T10:12:00Z\n"
            ),
            "{held}"
        );
    }
}
