//! Rule groups in object storage, one YAML file per group in the
//! Prometheus rule-file format: `<tenant>/rules/<namespace>/<group>.yaml`
//! for PromQL groups and `…/<group>.logql.yaml` for LogQL groups, with
//! namespace and group names base64url-encoded (as Mimir does) so any name
//! is a safe path part.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::tenant::TenantId;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::rules::{Language, RuleGroup};

/// Why the rule store failed.
#[derive(Debug, thiserror::Error)]
pub enum RuleStoreError {
    /// Object storage failed.
    #[error("rule storage: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A stored group could not be encoded.
    #[error("encoding rule group: {0}")]
    Encode(String),
}

/// A group as stored, with where it belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    /// Owner.
    pub tenant: TenantId,
    /// Which API stored it and which engine runs it.
    pub language: Language,
    /// The namespace (Prometheus's rule "file").
    pub namespace: String,
    /// The group.
    pub group: RuleGroup,
}

/// Reads and writes rule groups.
#[derive(Clone)]
pub struct RuleStore {
    store: Arc<dyn ObjectStore>,
}

fn encode(name: &str) -> String {
    URL_SAFE_NO_PAD.encode(name)
}

fn decode(part: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn suffix(lang: Language) -> &'static str {
    match lang {
        Language::Promql => ".yaml",
        Language::Logql => ".logql.yaml",
    }
}

fn rules_dir(tenant: &TenantId) -> Path {
    Path::from(format!("{}/rules", tenant.as_str()))
}

fn namespace_dir(tenant: &TenantId, namespace: &str) -> Path {
    Path::from(format!("{}/rules/{}", tenant.as_str(), encode(namespace)))
}

fn group_path(tenant: &TenantId, lang: Language, namespace: &str, group: &str) -> Path {
    Path::from(format!(
        "{}/rules/{}/{}{}",
        tenant.as_str(),
        encode(namespace),
        encode(group),
        suffix(lang)
    ))
}

/// `(namespace, group name)` of a group file of `lang` under the tenant.
fn parse_path(path: &Path, lang: Language) -> Option<(String, String)> {
    let parts: Vec<_> = path.parts().collect();
    let [_, _, ns, file] = parts.as_slice() else {
        return None;
    };
    let file = file.as_ref();
    let stem = file.strip_suffix(suffix(lang))?;
    if lang == Language::Promql && stem.ends_with(".logql") {
        return None;
    }
    Some((decode(ns.as_ref())?, decode(stem)?))
}

impl RuleStore {
    /// Rule groups in `store` (the bucket the blocks use).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Creates or replaces a group.
    pub async fn put(
        &self,
        tenant: &TenantId,
        lang: Language,
        namespace: &str,
        group: &RuleGroup,
    ) -> Result<(), RuleStoreError> {
        let yaml =
            serde_saphyr::to_string(group).map_err(|e| RuleStoreError::Encode(e.to_string()))?;
        self.store
            .put(
                &group_path(tenant, lang, namespace, &group.name),
                PutPayload::from(yaml.into_bytes()),
            )
            .await?;
        Ok(())
    }

    /// One group, `None` when it does not exist.
    pub async fn get(
        &self,
        tenant: &TenantId,
        lang: Language,
        namespace: &str,
        name: &str,
    ) -> Result<Option<RuleGroup>, RuleStoreError> {
        let path = group_path(tenant, lang, namespace, name);
        self.read(&path).await
    }

    async fn read(&self, path: &Path) -> Result<Option<RuleGroup>, RuleStoreError> {
        let bytes = match self.store.get(path).await {
            Ok(r) => r.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match serde_saphyr::from_slice::<RuleGroup>(&bytes) {
            Ok(g) => Ok(Some(g)),
            Err(e) => {
                tracing::warn!(%path, error = %e, "skipping unreadable rule group");
                Ok(None)
            }
        }
    }

    /// Deletes a group; false when it did not exist.
    pub async fn delete_group(
        &self,
        tenant: &TenantId,
        lang: Language,
        namespace: &str,
        name: &str,
    ) -> Result<bool, RuleStoreError> {
        let path = group_path(tenant, lang, namespace, name);
        match self.store.head(&path).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.store.delete(&path).await?;
        Ok(true)
    }

    /// Deletes every `lang` group of a namespace; returns how many.
    pub async fn delete_namespace(
        &self,
        tenant: &TenantId,
        lang: Language,
        namespace: &str,
    ) -> Result<usize, RuleStoreError> {
        let paths: Vec<Path> = self
            .store
            .list(Some(&namespace_dir(tenant, namespace)))
            .map_ok(|m| m.location)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter(|p| parse_path(p, lang).is_some())
            .collect();
        for p in &paths {
            self.store.delete(p).await?;
        }
        Ok(paths.len())
    }

    /// How many `lang` groups the tenant has (without reading them).
    pub async fn count(&self, tenant: &TenantId, lang: Language) -> Result<usize, RuleStoreError> {
        Ok(self.paths(tenant, lang).await?.len())
    }

    async fn paths(&self, tenant: &TenantId, lang: Language) -> Result<Vec<Path>, RuleStoreError> {
        Ok(self
            .store
            .list(Some(&rules_dir(tenant)))
            .map_ok(|m| m.location)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter(|p| parse_path(p, lang).is_some())
            .collect())
    }

    /// Every `lang` group of the tenant as `(namespace, group)`, sorted by
    /// namespace then group name.
    pub async fn list(
        &self,
        tenant: &TenantId,
        lang: Language,
    ) -> Result<Vec<(String, RuleGroup)>, RuleStoreError> {
        let mut out = Vec::new();
        for path in self.paths(tenant, lang).await? {
            let Some((ns, _)) = parse_path(&path, lang) else {
                continue;
            };
            if let Some(g) = self.read(&path).await? {
                out.push((ns, g));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
        Ok(out)
    }

    /// Tenants with a directory in the bucket (candidates for rules).
    pub async fn tenants(&self) -> Result<Vec<TenantId>, RuleStoreError> {
        let listing = self.store.list_with_delimiter(None).await?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|n| TenantId::parse(n).ok()))
            .collect())
    }

    /// Every group of every tenant, both languages.
    pub async fn all(&self) -> Result<Vec<StoredGroup>, RuleStoreError> {
        let mut out = Vec::new();
        for tenant in self.tenants().await? {
            for lang in [Language::Promql, Language::Logql] {
                for (namespace, group) in self.list(&tenant, lang).await? {
                    out.push(StoredGroup {
                        tenant: tenant.clone(),
                        language: lang,
                        namespace,
                        group,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_group;

    fn group(name: &str) -> RuleGroup {
        parse_group(&format!("name: {name}\nrules:\n- record: a\n  expr: up\n")).unwrap()
    }

    #[tokio::test]
    async fn groups_per_tenant_namespace_and_language() {
        let dir = tempfile::tempdir().unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let store = RuleStore::new(Arc::new(fs));
        let a = TenantId::parse("team-a").unwrap();
        let b = TenantId::parse("team-b").unwrap();
        store
            .put(&a, Language::Promql, "ns/one", &group("g 1"))
            .await
            .unwrap();
        store
            .put(&a, Language::Promql, "ns/one", &group("g2"))
            .await
            .unwrap();
        store
            .put(&a, Language::Logql, "ns/one", &group("logs"))
            .await
            .unwrap();
        store
            .put(&b, Language::Promql, "other", &group("g"))
            .await
            .unwrap();

        let listed = store.list(&a, Language::Promql).await.unwrap();
        let names: Vec<_> = listed
            .iter()
            .map(|(n, g)| (n.as_str(), g.name.as_str()))
            .collect();
        assert_eq!(names, [("ns/one", "g 1"), ("ns/one", "g2")]);
        assert_eq!(store.count(&a, Language::Logql).await.unwrap(), 1);
        assert_eq!(
            store
                .get(&a, Language::Promql, "ns/one", "g 1")
                .await
                .unwrap(),
            Some(group("g 1"))
        );
        assert!(
            store
                .get(&b, Language::Promql, "ns/one", "g 1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(dir.path().join("team-a/rules").is_dir());

        assert!(
            store
                .delete_group(&a, Language::Promql, "ns/one", "g2")
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_group(&a, Language::Promql, "ns/one", "g2")
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .delete_namespace(&a, Language::Promql, "ns/one")
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.count(&a, Language::Promql).await.unwrap(), 0);
        assert_eq!(store.count(&a, Language::Logql).await.unwrap(), 1);
        assert_eq!(store.all().await.unwrap().len(), 2);
    }
}
