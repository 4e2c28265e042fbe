//! What docker-compose.yml and deploy/Dockerfile give each container, read from the
//! real Compose binary's `config --format json` and from the Dockerfile's stages: the
//! input of the compose contract run (`src/bin/compose-contract.rs`).

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

/// One service as `docker compose config --format json` renders it (interpolated).
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub image: Option<String>,
    pub build: Option<Build>,
    /// `null` values (a name without a value) are left out: such a variable comes from
    /// the caller's shell, which a container run from the file alone does not have.
    #[serde(default, deserialize_with = "environment")]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Build {
    pub target: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Port {
    pub target: u16,
    /// The host port (a string in Compose's JSON).
    pub published: Option<String>,
    pub host_ip: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Compose {
    pub services: BTreeMap<String, Service>,
}

fn environment<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, Option<String>> = BTreeMap::deserialize(d)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

impl Compose {
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        serde_json::from_str(text).context("reading `docker compose config --format json`")
    }

    /// The service running `image` (matched by repository, any tag).
    pub fn by_image(&self, repository: &str) -> Option<(&str, &Service)> {
        self.services.iter().find_map(|(name, s)| {
            let image = s.image.as_deref()?;
            (image.split(':').next() == Some(repository)).then_some((name.as_str(), s))
        })
    }
}

impl Service {
    /// The host port published for container port `target`.
    pub fn published(&self, target: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.target == target)
            .and_then(|p| p.published.as_deref()?.parse().ok())
    }
}

/// One stage of a Dockerfile, as far as running its image needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stage {
    pub name: Option<String>,
    /// The `FROM` image or stage, build arguments substituted.
    pub base: String,
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

/// The stages of a Dockerfile: `FROM` (with global `ARG` defaults substituted), `ENV`
/// and the exec forms of `ENTRYPOINT`/`CMD`. Enough to know what a target runs and
/// with which environment; not a general parser.
pub fn stages(dockerfile: &str) -> anyhow::Result<Vec<Stage>> {
    let mut args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical_lines(dockerfile) {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let rest = rest.trim();
        match word.to_ascii_uppercase().as_str() {
            "ARG" if stages.is_empty() => {
                if let Some((k, v)) = rest.split_once('=') {
                    args.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
                }
            }
            "FROM" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let base = substitute(words.first().copied().unwrap_or_default(), &args);
                let name = match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                    _ => None,
                };
                stages.push(Stage {
                    name,
                    base,
                    ..Stage::default()
                });
            }
            "ENV" => {
                let stage = stages.last_mut().context("ENV before FROM")?;
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').with_context(|| {
                        format!("ENV {rest:?}: only the NAME=value form is read")
                    })?;
                    stage
                        .env
                        .push((k.to_owned(), v.trim_matches('"').to_owned()));
                }
            }
            "ENTRYPOINT" | "CMD" => {
                let stage = stages.last_mut().context("ENTRYPOINT before FROM")?;
                let exec: Vec<String> = serde_json::from_str(rest).with_context(|| {
                    format!("{word} {rest:?}: only the exec (JSON) form is read")
                })?;
                if word.eq_ignore_ascii_case("ENTRYPOINT") {
                    stage.entrypoint = Some(exec);
                } else {
                    stage.cmd = Some(exec);
                }
            }
            _ => {}
        }
    }
    Ok(stages)
}

/// What a target stage runs: its base image (following `FROM <stage>` to an image), its
/// environment (inherited first) and its entrypoint (the nearest one set).
pub fn resolve(stages: &[Stage], target: &str) -> anyhow::Result<Stage> {
    let mut chain = Vec::new();
    let mut name = target.to_owned();
    loop {
        let Some(stage) = stages.iter().find(|s| s.name.as_deref() == Some(&name)) else {
            if chain.is_empty() {
                bail!("no stage named {target:?}");
            }
            break;
        };
        if chain.len() > stages.len() {
            bail!("stage {target:?}: FROM loops");
        }
        chain.push(stage.clone());
        name = stage.base.clone();
    }
    let mut resolved = Stage {
        name: Some(target.to_owned()),
        base: chain.last().map(|s| s.base.clone()).unwrap_or_default(),
        ..Stage::default()
    };
    for stage in chain.iter().rev() {
        resolved.env.extend(stage.env.iter().cloned());
        if stage.entrypoint.is_some() {
            resolved.entrypoint.clone_from(&stage.entrypoint);
        }
        if stage.cmd.is_some() {
            resolved.cmd.clone_from(&stage.cmd);
        }
    }
    Ok(resolved)
}

/// Lines with `\` continuations joined and comments dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `${NAME}` and `$NAME` replaced by the build argument's default.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in args {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = r#"
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG LAMBDA_IMAGE=public.ecr.aws/lambda/provided:al2023
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y ca-certificates
FROM ${LAMBDA_IMAGE} AS worker
CMD ["bootstrap"]
FROM runtime AS web
# a comment
ENV PORT=3000
ENTRYPOINT ["/usr/local/bin/web"]
"#;

    #[test]
    fn a_target_resolves_to_its_image_environment_and_entrypoint() {
        let stages = stages(DOCKERFILE).unwrap();
        let web = resolve(&stages, "web").unwrap();
        assert_eq!(web.base, "debian:bookworm-slim");
        assert_eq!(web.env, vec![("PORT".to_owned(), "3000".to_owned())]);
        assert_eq!(web.entrypoint, Some(vec!["/usr/local/bin/web".to_owned()]));
        let worker = resolve(&stages, "worker").unwrap();
        assert_eq!(worker.base, "public.ecr.aws/lambda/provided:al2023");
        assert_eq!(worker.cmd, Some(vec!["bootstrap".to_owned()]));
        let error = resolve(&stages, "nope").unwrap_err().to_string();
        assert_eq!(error, r#"no stage named "nope""#);
    }

    #[test]
    fn compose_json_nulls_are_unset_and_ports_are_read() {
        let compose = Compose::from_json(
            r#"{"services":{"web":{"build":{"target":"web"},"environment":{"A":"1","B":null},
               "ports":[{"target":3000,"published":"8080","host_ip":"127.0.0.1"}]},
               "jaeger":{"image":"jaegertracing/jaeger:2.11.0"}}}"#,
        )
        .unwrap();
        let web = &compose.services["web"];
        assert_eq!(web.environment.len(), 1);
        assert_eq!(web.published(3000), Some(8080));
        assert_eq!(
            compose.by_image("jaegertracing/jaeger").unwrap().0,
            "jaeger"
        );
    }
}
