package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/piraeusctl/piraeusctl/internal/kubetest"
)

// TestHAControllerTemplateArgs: the arguments the plan's ha-controller
// DaemonSet passes are flags the command has, and its health port is the
// one the probe uses.
func TestHAControllerTemplateArgs(t *testing.T) {
	code, stdout, stderr := runCLI(t, "plan", "-f", "../../testdata/minimal/input", "-o", "json")
	require.Equal(t, exitOK, code, stderr)
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	var ds *appsv1.DaemonSet
	for _, raw := range list.Items {
		var d appsv1.DaemonSet
		require.NoError(t, json.Unmarshal(raw, &d))
		if d.Kind == "DaemonSet" && d.Name == "ha-controller" {
			ds = &d
		}
	}
	require.NotNil(t, ds, "plan has no ha-controller DaemonSet")
	c := ds.Spec.Template.Spec.Containers[0]
	require.Equal(t, "ha-controller", c.Args[0])
	cmd := newHAControllerCommand()
	args := make([]string, 0, len(c.Args)-1)
	for _, a := range c.Args[1:] {
		args = append(args, strings.ReplaceAll(a, "$(NODE_NAME)", "node-1"))
	}
	require.NoError(t, cmd.ParseFlags(args), "template args %v", c.Args)
	addr, err := cmd.Flags().GetString("health-bind-address")
	require.NoError(t, err)
	probe := c.LivenessProbe.HTTPGet.Port.String()
	require.Equal(t, ":"+strconv.Itoa(int(portNumber(t, c, probe))), addr, "the probe's port %q", probe)
	node, _ := cmd.Flags().GetString("node-name")
	require.Equal(t, "node-1", node)
}

func portNumber(t *testing.T, c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	require.FailNow(t, fmt.Sprintf("container has no port %q", name))
	return 0
}

func TestHAControllerNeedsNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	code, _, stderr := runCLI(t, "ha-controller", "--kubeconfig", "/nonexistent")
	require.Equal(t, exitInvalid, code)
	require.Contains(t, stderr, "--node-name")
}

// TestHAControllerReplay runs `piraeusctl ha-controller` as hack/local-up.sh
// does on a machine without DRBD: events2 from a file, quorum policies from
// a `drbdsetup show --json` file. The lost node's Pod is evicted, and
// /healthz and /metrics answer.
func TestHAControllerReplay(t *testing.T) {
	env := kubetest.Start(t)
	cfg := env.Config(t)
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()
	for _, n := range []string{"replay-a", "replay-b"} {
		node, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		require.NoError(t, err)
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	const ns = "ha-replay"
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	size := corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: "pvc-replay",
			Resources: corev1.VolumeResourceRequirements{Requests: size}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-replay"},
		Spec: corev1.PersistentVolumeSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, Capacity: size,
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data", UID: pvc.UID},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "linstor.csi.linbit.com", VolumeHandle: "pvc-replay"}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "0d9ed1a6-8a53-4b37-9a8e-000000000002"}}},
		Spec: corev1.PodSpec{NodeName: "replay-a", Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
	pod.Status.Phase = corev1.PodRunning
	_, err = c.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)

	dir := t.TempDir()
	events := filepath.Join(dir, "events2.txt")
	require.NoError(t, os.WriteFile(events, []byte(strings.Join([]string{
		"exists resource name:pvc-replay role:Secondary suspended:no force-io-failures:no",
		"exists connection name:pvc-replay peer-node-id:0 conn-name:replay-a connection:Connected role:Primary",
		"exists connection name:pvc-replay peer-node-id:2 conn-name:replay-c connection:Connected role:Secondary",
		"exists device name:pvc-replay volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
		"exists -",
		"change connection name:pvc-replay peer-node-id:0 conn-name:replay-a connection:NetworkFailure role:Unknown",
	}, "\n")+"\n"), 0o600))
	show := filepath.Join(dir, "show.json")
	require.NoError(t, os.WriteFile(show, []byte(`[{"resource": "pvc-replay", "options": {"quorum": "majority"}}]`), 0o600))

	health := freeAddr(t)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(runCtx, []string{"ha-controller", "--kubeconfig", env.Kubeconfig(t), "--node-name", "replay-b",
			"--events2-file", events, "--drbd-show-file", show, "--fail-over-timeout", "0s", "--health-bind-address", health},
			strings.NewReader(""), io.Discard, &stderr)
	}()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil, nil
	}), "web-0 was not evicted: %s", stderr.String())
	resp, err := http.Get("http://" + health + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	resp, err = http.Get("http://" + health + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `piraeusctl_ha_actions_total{action="evict",result="ok"} 1`)
	require.Contains(t, string(body), "piraeusctl_ha_events2_lines_total 6")
	cancel()
	require.Equal(t, exitOK, <-done, stderr.String())
}
