//! edgeheal-healer: the heal API: authenticated, safe remediation through the Kubernetes API.
