# k8s-resource-limits at admission: every container declares CPU and memory requests and limits.
# Mirrors policies/k8s.py; Rego v1. Ephemeral containers cannot declare resources.
package codexresourcelimits

rule := "k8s-resource-limits"

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
	some field in ["initContainers", "containers"]
	some c in object.get(pod_spec, field, [])
}

who(c) := sprintf("container '%s'", [c.name]) if is_string(c.name)

who(c) := "unnamed container" if not is_string(object.get(c, "name", null))

unset(value) if value == null

unset("")

missing(c) := [concat(".", path) |
	some path in [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]
	unset(object.get(c, array.concat(["resources"], path), null))
]

# rego-cpp (regopy 1.5.2) quotes a concat() result given to sprintf's %s, so messages that
# join a list are built with concat() alone; Gatekeeper's OPA reads them the same.
violation contains {"msg": msg, "details": {"rule": rule}} if {
	some c in containers
	gaps := missing(c)
	count(gaps) > 0
	msg := concat("", [rule, ": ", who(c), " has no ", concat(", ", gaps)])
}
