package plan

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// VolumeSnapshotClass is a snapshot.storage.k8s.io/v1 VolumeSnapshotClass
// (the external-snapshotter's CRD): the class of the snapshots linstor-csi
// takes, with its snapshot parameters.
type VolumeSnapshotClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Driver is the CSI driver that takes the snapshots.
	Driver string `json:"driver"`
	// DeletionPolicy: Delete or Retain.
	DeletionPolicy string `json:"deletionPolicy"`
	// Parameters for the driver.
	Parameters map[string]string `json:"parameters,omitempty"`
}

// snapshotParamNamespace prefixes linstor-csi's snapshot parameters.
const snapshotParamNamespace = "snap." + paramNamespace

// Snapshot types of linstor-csi (parameter snap.linstor.csi.linbit.com/type).
const (
	SnapshotInCluster = "InCluster"
	SnapshotS3        = "S3"
	SnapshotLinstor   = "Linstor"
)

var snapshotTypes = []string{SnapshotInCluster, SnapshotLinstor, SnapshotS3}

// snapshotSidecarParams are the external-snapshotter's own parameters.
var snapshotSidecarParams = []string{
	"snapshotter-list-secret-name", "snapshotter-list-secret-namespace",
	"snapshotter-secret-name", "snapshotter-secret-namespace",
}

// snapshotParams check linstor-csi's snapshot parameters (without prefix).
var snapshotParams = map[string]func(v string, p *field.Path) *field.Error{
	"type":                        checkSnapshotType,
	"allow-incremental":           checkBoolParam,
	"delete-local":                checkBoolParam,
	"s3-use-path-style":           checkBoolParam,
	"remote-name":                 checkLinstorName("a LINSTOR remote name"),
	"linstor-target-storage-pool": checkLinstorName("a storage pool name of the target cluster"),
	"s3-endpoint":                 checkNonEmpty("an S3 endpoint, e.g. s3.us-west-2.amazonaws.com"),
	"linstor-target-url":          checkURLParam,
	"s3-bucket":                   checkNonEmpty("an S3 bucket name"),
	"s3-signing-region":           checkNonEmpty("an S3 region, e.g. us-east-1"),
	"linstor-target-cluster-id":   checkNonEmpty("the LINSTOR cluster id of the target"),
}

// validateVolumeSnapshotClass checks a VolumeSnapshotClass; for linstor-csi's
// classes it checks the snapshot parameters as linstor-csi reads them, and
// warns about the ones it ignores.
func validateVolumeSnapshotClass(c *VolumeSnapshotClass) (errs, warnings field.ErrorList) {
	if c.Driver == "" {
		errs = append(errs, field.Required(field.NewPath("driver"), "expected the CSI driver, e.g. "+CSIProvisioner))
	}
	if c.DeletionPolicy != "Delete" && c.DeletionPolicy != "Retain" {
		errs = append(errs, field.NotSupported(field.NewPath("deletionPolicy"), c.DeletionPolicy, []string{"Delete", "Retain"}))
	}
	if c.Driver != CSIProvisioner {
		return errs, nil
	}
	root := field.NewPath("parameters")
	for _, key := range slices.Sorted(maps.Keys(c.Parameters)) {
		value, path := c.Parameters[key], root.Key(key)
		ns, name, _ := strings.Cut(key, "/")
		switch {
		case ns == snapshotParamNamespace && snapshotParams[name] != nil:
			if err := snapshotParams[name](value, path); err != nil {
				errs = append(errs, err)
			}
		case ns == snapshotParamNamespace:
			warnings = append(warnings, &field.Error{Field: path.String(), Detail: fmt.Sprintf(
				"ignored: linstor-csi knows no snapshot parameter %q (it reads %s)", name, strings.Join(slices.Sorted(maps.Keys(snapshotParams)), ", "))})
		case ns == csiParamNamespace:
			if !slices.Contains(snapshotSidecarParams, name) {
				errs = append(errs, field.NotSupported(path, name, snapshotSidecarParams))
			}
		default:
			warnings = append(warnings, &field.Error{Field: path.String(), Detail: fmt.Sprintf(
				"ignored: linstor-csi reads only %s/ parameters of a VolumeSnapshotClass", snapshotParamNamespace)})
		}
	}
	return append(errs, snapshotTypeRules(c.Parameters, root)...), warnings
}

// snapshotTypeRules are linstor-csi's rules across parameters: a snapshot
// that leaves the cluster needs a remote; in-cluster snapshots have no
// local copy to delete.
func snapshotTypeRules(params map[string]string, root *field.Path) field.ErrorList {
	typ := SnapshotInCluster
	if t, ok := canonicalSnapshotType(params[snapshotParamNamespace+"/type"]); ok {
		typ = t
	}
	var errs field.ErrorList
	if typ != SnapshotInCluster && params[snapshotParamNamespace+"/remote-name"] == "" {
		errs = append(errs, field.Required(root.Key(snapshotParamNamespace+"/remote-name"),
			fmt.Sprintf("snapshots of type %s are shipped to a LINSTOR remote; name it", typ)))
	}
	if dl, err := strconv.ParseBool(params[snapshotParamNamespace+"/delete-local"]); err == nil && dl && typ == SnapshotInCluster {
		errs = append(errs, field.Invalid(root.Key(snapshotParamNamespace+"/delete-local"), "true",
			"in-cluster snapshots have no other copy: delete-local needs type S3 or Linstor"))
	}
	return errs
}

func canonicalSnapshotType(v string) (string, bool) {
	if v == "" {
		return SnapshotInCluster, true
	}
	i := slices.IndexFunc(snapshotTypes, func(t string) bool { return strings.EqualFold(t, v) })
	if i < 0 {
		return "", false
	}
	return snapshotTypes[i], true
}

func checkSnapshotType(v string, p *field.Path) *field.Error {
	if _, ok := canonicalSnapshotType(v); !ok || v == "" {
		return field.NotSupported(p, v, snapshotTypes)
	}
	return nil
}

func checkBoolParam(v string, p *field.Path) *field.Error {
	if _, err := strconv.ParseBool(v); err != nil {
		return field.Invalid(p, v, "expected true or false")
	}
	return nil
}

func checkLinstorName(what string) func(string, *field.Path) *field.Error {
	return func(v string, p *field.Path) *field.Error {
		if !linstorNameRE.MatchString(v) {
			return field.Invalid(p, v, "expected "+what+" (letters, digits, _ and -, starting with a letter or _, at most 48 characters)")
		}
		return nil
	}
}

func checkNonEmpty(what string) func(string, *field.Path) *field.Error {
	return func(v string, p *field.Path) *field.Error {
		if strings.TrimSpace(v) == "" {
			return field.Invalid(p, v, "expected "+what)
		}
		return nil
	}
}

func checkURLParam(v string, p *field.Path) *field.Error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return field.Invalid(p, v, "expected the http or https URL of the target's LINSTOR controller, e.g. https://linstor.example.com:3371")
	}
	return nil
}
