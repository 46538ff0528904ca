package apply

import (
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectError is an error about one object; its message starts with
// Kind/namespace/name and the cause stays reachable with errors.Unwrap.
type ObjectError struct {
	Object ObjectRef
	Err    error
}

func (e *ObjectError) Error() string { return e.Object.String() + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// objectErr wraps err with the object it concerns, describing server-side
// apply conflicts by field and manager.
func objectErr(ref ObjectRef, op string, err error) error {
	if err == nil {
		return nil
	}
	if conflicts := ConflictsOf(err); len(conflicts) > 0 {
		return &ObjectError{Object: ref, Err: &ConflictError{Conflicts: conflicts, cause: err}}
	}
	return &ObjectError{Object: ref, Err: fmt.Errorf("%s: %w", op, err)}
}

// Conflict is one field another field manager owns with a different value.
type Conflict struct {
	Field   string `json:"field"`
	Manager string `json:"manager"`
}

// ConflictError lists the fields of one object owned by other managers.
type ConflictError struct {
	Conflicts []Conflict
	cause     error
}

func (e *ConflictError) Error() string {
	parts := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		parts = append(parts, fmt.Sprintf("%s (owned by %s)", c.Field, c.Manager))
	}
	return "conflict with other field managers on " + strings.Join(parts, ", ") +
		": use --force-conflicts to take ownership"
}

func (e *ConflictError) Unwrap() error { return e.cause }

// ConflictsOf extracts the field-manager conflicts of a server-side apply
// error; it returns nil for any other error.
func ConflictsOf(err error) []Conflict {
	var status apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &status) {
		return nil
	}
	details := status.Status().Details
	if details == nil {
		return nil
	}
	var out []Conflict
	for _, cause := range details.Causes {
		if cause.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		out = append(out, Conflict{Field: cause.Field, Manager: managerOf(cause.Message)})
	}
	return out
}

// managerOf reads the manager from a cause message such as
// `conflict with "kubectl-edit" using apps/v1`.
func managerOf(msg string) string {
	if i := strings.IndexByte(msg, '"'); i >= 0 {
		if j := strings.IndexByte(msg[i+1:], '"'); j >= 0 {
			return msg[i : i+j+2]
		}
	}
	return msg
}
