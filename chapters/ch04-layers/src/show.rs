//! What `images`, `history`, `inspect` and `ps` print: docker's tables, with docker's units.

use crate::digest::Digest;
use crate::error::Error;
use crate::store::Store;
use crate::store::images::Image;
use crate::time;

/// Left-aligned columns, each as wide as its widest cell plus three spaces, as docker's
/// tabwriter lays out its tables.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Sizes as docker prints them: decimal units, three significant digits (`4.1MB`, `512B`, `0B`).
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 { 0 } else if value >= 10.0 { 1 } else { 2 };
    let mut text = format!("{value:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", units[unit])
}

fn created(image: &Image) -> Option<u64> {
    image.config.created().as_deref().and_then(time::parse_rfc3339)
}

/// The uncompressed size of an image: the sum of its layers.
fn image_size(store: &Store, image: &Image) -> u64 {
    image.diff_ids().iter().filter_map(|d| store.layer(d).ok()).map(|l| l.size).sum()
}

/// `images`: REPOSITORY TAG IMAGE ID CREATED SIZE, newest first.
pub fn images(store: &Store) -> Result<String, Error> {
    let now = time::now();
    let mut listed: Vec<(Option<u64>, String, String, Image)> = Vec::new();
    for (reference, id) in store.tags()? {
        let image = store.image(&id)?;
        listed.push((created(&image), reference.name, reference.tag, image));
    }
    listed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from).to_vec()];
    for (when, name, tag, image) in &listed {
        let when = when.map_or_else(|| "N/A".to_string(), |t| time::ago(t, now));
        rows.push(vec![name.clone(), tag.clone(), image.id.short().to_string(), when, size(image_size(store, image))]);
    }
    Ok(table(&rows))
}

// ANCHOR: history
/// `history`: one row per entry of the config's history, newest first, as docker shows it. A row
/// names the image that step made when this store built it (following the parent records), and
/// `<missing>` otherwise (an imported base). Rows that added no layer (`ENV`, `CMD`...) are `0B`.
pub fn history(store: &Store, image: &Image, no_trunc: bool) -> Result<String, Error> {
    let now = time::now();
    let entries = image.config.history().clone().unwrap_or_default();
    // The images of the last steps: the image itself, its parent, and so on.
    let mut made_by: Vec<Option<Digest>> = vec![None; entries.len()];
    let mut current = Some(image.clone());
    while let Some(img) = current {
        let count = img.config.history().as_ref().map_or(0, Vec::len);
        if count == 0 || count > entries.len() || img.parent.is_none() && count > 1 {
            break;
        }
        made_by[count - 1] = Some(img.id.clone());
        current = img.parent.as_ref().and_then(|p| store.image(p).ok());
    }
    let mut layers = image.diff_ids().into_iter();
    let mut rows = vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from).to_vec()];
    let mut body = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let empty = entry.empty_layer().unwrap_or(false);
        let bytes = if empty { 0 } else { layers.next().and_then(|d| store.layer(&d).ok()).map_or(0, |l| l.size) };
        let mut by = entry.created_by().clone().unwrap_or_default();
        if !no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        let when = entry.created().as_deref().and_then(time::parse_rfc3339).map_or_else(|| "N/A".to_string(), |t| time::ago(t, now));
        let id = made_by[i].as_ref().map_or_else(|| "<missing>".to_string(), |d| d.short().to_string());
        body.push(vec![id, when, by, size(bytes), entry.comment().clone().unwrap_or_default()]);
    }
    rows.extend(body.into_iter().rev());
    Ok(table(&rows))
}
// ANCHOR_END: history

/// `inspect`: the image's id, tags, and config as JSON, keys sorted.
pub fn inspect(store: &Store, image: &Image) -> Result<String, Error> {
    let tags: Vec<String> = store.tags()?.into_iter().filter(|(_, id)| *id == image.id).map(|(r, _)| r.to_string()).collect();
    let mut value = serde_json::to_value(&image.config).expect("a config serializes");
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("Id".into(), image.id.to_string().into());
        map.insert("RepoTags".into(), tags.into());
    }
    Ok(serde_json::to_string_pretty(&value).expect("JSON prints") + "\n")
}

/// `ps`: CONTAINER ID IMAGE COMMAND CREATED STATUS NAMES.
pub fn ps(store: &Store, all: bool) -> Result<String, Error> {
    let now = time::now();
    let mut rows = vec![["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"].map(String::from).to_vec()];
    for c in store.containers()?.iter().rev() {
        let status = c.status_text(now);
        if !all && !status.starts_with("Up") {
            continue;
        }
        let mut command = c.command.join(" ");
        if command.chars().count() > 20 {
            command = command.chars().take(19).collect::<String>() + "…";
        }
        rows.push(vec![c.id[..12].to_string(), c.image.clone(), format!("\"{command}\""), time::ago(c.created, now), status, c.name.clone().unwrap_or_default()]);
    }
    Ok(table(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(512), "512B");
        assert_eq!(size(4096), "4.1kB");
        assert_eq!(size(1_500_000), "1.5MB");
        assert_eq!(size(123_456), "123kB");
    }

    #[test]
    fn columns_line_up() {
        let t = table(&[vec!["A".into(), "BB".into()], vec!["CCC".into(), "D".into()]]);
        assert_eq!(t, "A     BB\nCCC   D\n");
    }
}
