package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/piraeusctl/piraeusctl/plan"
)

// Resource is one kind the webhook validates, with the path the rendered
// ValidatingWebhookConfiguration calls.
type Resource struct {
	schema.GroupVersionResource
	Kind string
}

// Path is /validate-<group with dashes>-<version>-<resource>, as the
// piraeus-operator-gencert template renders it.
func (r Resource) Path() string {
	return fmt.Sprintf("/validate-%s-%s-%s", strings.ReplaceAll(r.Group, ".", "-"), r.Version, r.Resource)
}

// Resources are the kinds the webhook validates.
func Resources() []Resource {
	return []Resource{
		{schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorclusters"}, "LinstorCluster"},
		{schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstornodeconnections"}, "LinstorNodeConnection"},
		{schema.GroupVersionResource{Group: "piraeus.io", Version: "v1", Resource: "linstorsatelliteconfigurations"}, "LinstorSatelliteConfiguration"},
		{schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagetopologies"}, "StorageTopology"},
		{schema.GroupVersionResource{Group: "storage.piraeus.io", Version: "v1alpha1", Resource: "storagevolumes"}, "StorageVolume"},
	}
}

// LiveSource tells update checks about the cluster.
type LiveSource interface {
	// Live returns what the cluster shows for an update of kind; on error
	// the check knows nothing and refuses what it cannot prove safe.
	Live(ctx context.Context, kind string) (plan.Live, error)
}

// validator is the admission handler of every Resource.
type validator struct {
	schemas   *plan.Schemas
	live      LiveSource
	inputs    InputSource
	namespace string
	log       *slog.Logger
}

// Handle validates creates and updates with package plan and denies with
// its field paths and messages; an admitted object gets plan's warnings
// about it (see warnings); it refuses deleting a StorageVolume whose data
// is still wanted.
func (v *validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	var errs plan.ErrorList
	code := int32(http.StatusUnprocessableEntity)
	switch req.Operation {
	case admissionv1.Create:
		errs = plan.ValidateObject(v.schemas, req.Object.Raw)
	case admissionv1.Update:
		if errs = plan.ValidateObject(v.schemas, req.Object.Raw); len(errs) == 0 {
			errs = plan.ValidateUpdateLive(v.schemas, req.OldObject.Raw, req.Object.Raw, v.liveFor(ctx, req.Kind.Kind))
			code = http.StatusForbidden
		}
	case admissionv1.Delete:
		errs = plan.ValidateDeleteLive(v.schemas, req.OldObject.Raw, v.liveFor(ctx, req.Kind.Kind))
		code = http.StatusForbidden
	default:
		return admission.Allowed("")
	}
	if len(errs) == 0 {
		return admission.Allowed("").WithWarnings(v.warnings(ctx, req.Kind.Kind, req.Name, req.Object.Raw)...)
	}
	v.log.Info("denied", "kind", req.Kind.Kind, "name", req.Name, "operation", req.Operation, "user", req.UserInfo.Username, "errors", len(errs))
	return denied(req, errs, code)
}

func (v *validator) liveFor(ctx context.Context, kind string) plan.Live {
	if v.live == nil {
		return plan.Live{}
	}
	live, err := v.live.Live(ctx, kind)
	if err != nil {
		v.log.Warn("cannot read the cluster for update checks; refusing what cannot be proven safe", "kind", kind, "err", err)
		return plan.Live{}
	}
	return live
}

// denied builds the response: one line per error as plan prints it
// (object, field path, message), and a cause per field, which kubectl
// prints as it prints the API server's own validation errors.
func denied(req admission.Request, errs plan.ErrorList, code int32) admission.Response {
	lines := make([]string, len(errs))
	causes := make([]metav1.StatusCause, len(errs))
	for i, e := range errs {
		lines[i] = admissionLine(e)
		causes[i] = metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: e.Field, Message: e.Message}
	}
	reason := metav1.StatusReasonInvalid
	if code == http.StatusForbidden {
		reason = metav1.StatusReasonForbidden
	}
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    code,
			Reason:  reason,
			Message: strings.Join(lines, "\n"),
			Details: &metav1.StatusDetails{Name: req.Name, Group: req.Kind.Group, Kind: req.Kind.Kind, Causes: causes},
		},
	}}
}

// admissionLine is plan's error line without the file position, which
// means nothing for an object sent to the API server.
func admissionLine(e *plan.Error) string {
	parts := make([]string, 0, 3)
	for _, p := range []string{e.Object, e.Field, e.Message} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}
