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
        from_properties(&text)
    };
    apply_overrides(props, overrides)
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

fn from_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| l.split_once(['=', ':']))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
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
    fn properties_files_parse() {
        let p = from_properties("# comment\ntopic.prefix = shop\ndatabase.hostname:db\n\n");
        assert_eq!(p["topic.prefix"], "shop");
        assert_eq!(p["database.hostname"], "db");
    }
}
