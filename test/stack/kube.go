package stack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/netchange-io/netchange/test/testenv"
)

// ApplyFile creates every object of a multi-document YAML file (skipping ones that exist).
func ApplyFile(ctx context.Context, c client.Client, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return fmt.Errorf("decode %s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s from %s: %w", u.GetKind(), u.GetName(), path, err)
		}
	}
}

// ApplyDir applies every *.yaml file of dir in name order.
func ApplyDir(ctx context.Context, c client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := ApplyFile(ctx, c, f); err != nil {
			return err
		}
	}
	return nil
}

// Identity is a user with a client certificate for one cluster, bound to a ClusterRole.
type Identity struct {
	// User is the user name.
	User string
	// Kubeconfig is the path of a kubeconfig that authenticates as User.
	Kubeconfig string
}

// NewIdentity creates a user with a client certificate in cl, binds it to the
// ClusterRole role (if not empty) and writes its kubeconfig into dir.
func NewIdentity(ctx context.Context, cl *testenv.Cluster, user, role, dir string) (*Identity, error) {
	au, err := cl.Env.AddUser(envtest.User{Name: user}, cl.Config)
	if err != nil {
		return nil, fmt.Errorf("add user %s to %s: %w", user, cl.Name, err)
	}
	kc, err := au.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig for %s: %w", user, err)
	}
	path := filepath.Join(dir, cl.Name+"-"+user+".kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return nil, err
	}
	if role != "" {
		b := &rbacv1.ClusterRoleBinding{}
		b.Name = role + "-" + user
		b.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
		b.Subjects = []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
		if err := cl.Client.Create(ctx, b); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("bind %s to %s: %w", role, user, err)
		}
	}
	return &Identity{User: user, Kubeconfig: path}, nil
}
