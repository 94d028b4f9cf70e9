//! Reading a connector config file into Kafka Connect's flat property map.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Loads `{"name":..,"config":{..}}`, a flat JSON object, or a `.properties` file, then applies
/// `key=value` overrides.
pub(crate) fn load(path: &Path, overrides: &[String]) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let props = if text.trim_start().starts_with('{') {
        from_json(&text).with_context(|| format!("parsing {}", path.display()))?
    } else {
        sluice_connect::provider::java_properties(&text)
    };
    apply_overrides(props, overrides)
}

/// Worker properties from the environment, the way Confluent's images read `CONNECT_*`:
/// `SLUICE_WORKER_BOOTSTRAP_SERVERS` is `bootstrap.servers`; `__` stands for `_`, `___` for `-`.
pub(crate) fn worker_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("SLUICE_WORKER_")?;
            if name.is_empty() || name == "CONFIG" {
                return None;
            }
            let key = name
                .to_ascii_lowercase()
                .replace("___", "-")
                .replace("__", "\u{0}")
                .replace('_', ".")
                .replace('\u{0}', "_");
            Some((key, v))
        })
        .collect()
}

/// Applies `key=value` overrides to a property map.
pub(crate) fn apply_overrides(
    mut props: BTreeMap<String, String>,
    overrides: &[String],
) -> Result<BTreeMap<String, String>> {
    for o in overrides {
        let Some((k, v)) = o.split_once('=') else { bail!("--set {o}: expected KEY=VALUE") };
        props.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(props)
}

fn from_json(text: &str) -> Result<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let obj = value.as_object().context("the config must be a JSON object")?;
    let mut props = BTreeMap::new();
    let (config, name) = match obj.get("config") {
        Some(c) => (c.as_object().context("\"config\" must be an object")?, obj.get("name")),
        None => (obj, None),
    };
    if let Some(name) = name.and_then(|n| n.as_str()) {
        props.insert("name".to_owned(), name.to_owned());
    }
    for (k, v) in config {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => bail!("property {k}: Kafka Connect configs hold strings, not {other}"),
        };
        props.insert(k.clone(), v);
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_style_json_flattens_with_name() {
        let p = from_json(
            r#"{"name":"inv","config":{"database.port":5432,"slot.drop.on.stop":true,"topic.prefix":"x"}}"#,
        )
        .unwrap();
        assert_eq!(p["name"], "inv");
        assert_eq!(p["database.port"], "5432");
        assert_eq!(p["slot.drop.on.stop"], "true");
    }

    #[test]
    fn worker_properties_come_from_the_environment() {
        let vars = [
            ("SLUICE_WORKER_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("SLUICE_WORKER_CONFIG_STORAGE_TOPIC", "cfg"),
            ("SLUICE_WORKER_SASL_JAAS___X__Y", "z"),
            ("SLUICE_WORKER_CONFIG", "/etc/worker.properties"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let p = worker_env(vars);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p["bootstrap.servers"], "kafka:9092");
        assert_eq!(p["config.storage.topic"], "cfg");
        assert_eq!(p["sasl.jaas-x_y"], "z");
    }

    #[test]
    fn properties_files_parse() {
        let p = sluice_connect::provider::java_properties(
            "# comment\ntopic.prefix = shop\ndatabase.hostname:db\n\n",
        );
        assert_eq!(p["topic.prefix"], "shop");
        assert_eq!(p["database.hostname"], "db");
    }
}
