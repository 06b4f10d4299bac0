# k8s-pod-security-restricted at admission: the Pod Security Standard "restricted" profile.
# Mirrors policies/k8s.py (pod_security_problems); Rego v1, evaluated by Gatekeeper's Rego engine.
package codexpodsecurity

rule := "k8s-pod-security-restricted"

# -- the reviewed object's pod spec (a Pod, or a workload's pod template) -------------------------

template_paths := {
	"Deployment": ["spec", "template"],
	"StatefulSet": ["spec", "template"],
	"DaemonSet": ["spec", "template"],
	"ReplicaSet": ["spec", "template"],
	"ReplicationController": ["spec", "template"],
	"Job": ["spec", "template"],
	"CronJob": ["spec", "jobTemplate", "spec", "template"],
}

pod := input.review.object if input.review.object.kind == "Pod"

pod := object.get(input.review.object, template_paths[input.review.object.kind], {})

pod_spec := object.get(pod, "spec", {})

containers contains c if {
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in object.get(pod_spec, field, [])
}

who(c) := sprintf("container '%s'", [c.name]) if is_string(c.name)

who(c) := "unnamed container" if not is_string(object.get(c, "name", null))

pod_ctx := object.get(pod_spec, "securityContext", {})

ctx(c) := object.get(c, "securityContext", {})

# -- the pod ---------------------------------------------------------------------------------------

problems contains sprintf("%s is true", [field]) if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	pod_spec[field] == true
}

problems contains sprintf("volume '%s' mounts a hostPath", [volume.name]) if {
	some volume in object.get(pod_spec, "volumes", [])
	object.get(volume, "hostPath", null) != null
}

pod_seccomp := object.get(pod_ctx, ["seccompProfile", "type"], null)

problems contains sprintf("pod seccompProfile is '%s'", [pod_seccomp]) if {
	pod_seccomp != null
	not pod_seccomp in input.parameters.allowedSeccompProfiles
}

problems contains "pod runs as UID 0" if pod_ctx.runAsUser == 0

# -- every container -------------------------------------------------------------------------------

problems contains sprintf("%s is privileged", [who(c)]) if {
	some c in containers
	ctx(c).privileged == true
}

problems contains sprintf("%s does not set allowPrivilegeEscalation: false", [who(c)]) if {
	some c in containers
	object.get(ctx(c), "allowPrivilegeEscalation", null) != false
}

problems contains sprintf("%s does not set runAsNonRoot: true", [who(c)]) if {
	some c in containers
	ctx(c).runAsNonRoot == false
}

problems contains sprintf("%s does not set runAsNonRoot: true", [who(c)]) if {
	some c in containers
	object.get(ctx(c), "runAsNonRoot", null) == null
	object.get(pod_ctx, "runAsNonRoot", null) != true
}

problems contains sprintf("%s runs as UID 0", [who(c)]) if {
	some c in containers
	ctx(c).runAsUser == 0
}

problems contains sprintf("%s does not drop ALL capabilities", [who(c)]) if {
	some c in containers
	dropped := {upper(d) | some d in object.get(ctx(c), ["capabilities", "drop"], [])}
	not "ALL" in dropped
}

# rego-cpp (regopy 1.5.2) quotes a concat() result given to sprintf's %s, so messages that
# join a list are built with concat() alone; Gatekeeper's OPA reads them the same.
problems contains msg if {
	some c in containers
	added := {upper(a) | some a in object.get(ctx(c), ["capabilities", "add"], [])}
	allowed := {upper(a) | some a in input.parameters.allowedAddedCapabilities}
	extra := added - allowed
	count(extra) > 0
	msg := concat("", [who(c), " adds capabilities ", concat(", ", sort(extra))])
}

effective_seccomp(c) := object.get(ctx(c), ["seccompProfile", "type"], pod_seccomp)

problems contains sprintf("%s has seccompProfile '%s'; use RuntimeDefault or Localhost", [who(c), effective_seccomp(c)]) if {
	some c in containers
	effective_seccomp(c) != null
	not effective_seccomp(c) in input.parameters.allowedSeccompProfiles
}

problems contains sprintf("%s has no seccompProfile (pod or container); use RuntimeDefault", [who(c)]) if {
	some c in containers
	effective_seccomp(c) == null
}

violation contains {"msg": concat(": ", [rule, problem]), "details": {"rule": rule}} if {
	some problem in problems
}
