//! A verdict change POSTed to a webhook as one OCSF Compliance Finding
//! (`export::ocsf::change`); any 2xx answer is delivery.

use super::Change;

pub async fn send(client: &reqwest::Client, url: &url::Url, change: &Change) -> Result<(), String> {
    let body =
        crate::export::ocsf::change(&change.catalog, &change.item, change.before, change.at_ms);
    let answer = client
        .post(url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: answered {}", answer.status()))
    }
}
