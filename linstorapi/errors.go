package linstorapi

import (
	"errors"
	"fmt"
	"net/http"

	linstor "github.com/LINBIT/golinstor"
	lapi "github.com/LINBIT/golinstor/client"
)

// apiError is a failed call: the HTTP status and LINSTOR's return code
// (error mask, object mask and operation mask combined).
type apiError struct {
	status int
	code   uint64
	msg    string
	cause  string
}

func (e *apiError) Error() string { return e.msg }

// rc is the ApiCallRc of the error.
func (e *apiError) rc() lapi.ApiCallRc {
	return lapi.ApiCallRc{RetCode: int64(e.code), Message: e.msg, Cause: e.cause}
}

func fail(status int, code uint64, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// notFound answers 404 with an ApiCallRc (golinstor maps any 404 to NotFoundError).
func notFound(code uint64, format string, args ...any) *apiError {
	return fail(http.StatusNotFound, code, format, args...)
}

// exists answers 409 with an ApiCallRc.
func exists(code uint64, format string, args ...any) *apiError {
	return fail(http.StatusConflict, code, format, args...)
}

// invalid answers 400 with an ApiCallRc.
func invalid(code uint64, format string, args ...any) *apiError {
	return fail(http.StatusBadRequest, code, format, args...)
}

// internal is a failure of the API server or the cluster (500 with an ApiCallRc).
func internal(err error, what string) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: uint64(linstor.FailUnknownError), msg: what + ": " + err.Error()}
}

// asAPIError turns any error into an apiError.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return internal(err, "internal error")
}

// Object masks of LINSTOR's return codes.
const (
	maskNode     = uint64(linstor.MaskNode)
	maskRscDfn   = uint64(linstor.MaskRscDfn)
	maskRsc      = uint64(linstor.MaskRsc)
	maskVlmDfn   = uint64(linstor.MaskVlmDfn)
	maskRscGrp   = uint64(linstor.MaskRscGrp)
	maskSnapshot = uint64(linstor.MaskSnapshot)
	maskKvs      = uint64(linstor.MaskKvs)
	maskStorPool = uint64(linstor.MaskStorPool)
	opCreate     = uint64(linstor.MaskCrt)
	opModify     = uint64(linstor.MaskMod)
	opDelete     = uint64(linstor.MaskDel)
)

// success is the ApiCallRc list of a successful call.
func success(code uint64, format string, args ...any) []lapi.ApiCallRc {
	return []lapi.ApiCallRc{{RetCode: int64(code), Message: fmt.Sprintf(format, args...)}}
}
