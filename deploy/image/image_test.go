package main

import (
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestDigestReproducible: the same binary and time give the same digest,
// and a different binary or time a different one (so the comparison in
// deploy/ci.sh can fail).
func TestDigestReproducible(t *testing.T) {
	created := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	m := meta{version: "v1.2.3", revision: "abc", source: "https://example.com/bulkstream", created: created, arch: "amd64"}
	digest := func(binary string, m meta) string {
		t.Helper()
		img, err := buildImage([]byte(binary), m)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	first := digest("\x7fELF one", m)
	if again := digest("\x7fELF one", m); again != first {
		t.Errorf("two builds of the same binary: %s and %s", first, again)
	}
	if other := digest("\x7fELF two", m); other == first {
		t.Error("another binary gives the same digest")
	}
	later := m
	later.created = created.Add(time.Second)
	if other := digest("\x7fELF one", later); other == first {
		t.Error("another time gives the same digest")
	}
}

// TestRootFS: the files the connector needs are there, the certificates
// parse, and rootfs writes the same files for the Dockerfile.
func TestRootFS(t *testing.T) {
	files := map[string]file{}
	for _, f := range rootFS([]byte("bin")) {
		files[f.path] = f
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(files["/etc/ssl/certs/ca-certificates.crt"].data) || len(files["/etc/ssl/certs/ca-certificates.crt"].data) < 100_000 {
		t.Error("ca-certificates.crt: want the NSS roots as PEM")
	}
	if f := files[binaryPath]; string(f.data) != "bin" || f.mode != 0o755 {
		t.Errorf("%s: %+v", binaryPath, f)
	}
	dir := t.TempDir()
	if err := writeDir(dir, rootFS([]byte("bin"))); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir + "/tmp"); err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v %v, want a sticky 1777 directory", st.Mode(), err)
	}
	if b, err := os.ReadFile(dir + binaryPath); err != nil || string(b) != "bin" {
		t.Errorf("%s: %q %v", binaryPath, b, err)
	}
}

// TestSameImage: the tarball written for an image passes the check, and the
// tarball of another image (another binary) does not.
func TestSameImage(t *testing.T) {
	m := meta{version: "v1.2.3", revision: "abc", source: "https://example.com/bulkstream", created: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC), arch: "amd64"}
	one, err := buildImage([]byte("\x7fELF one"), m)
	if err != nil {
		t.Fatal(err)
	}
	two, err := buildImage([]byte("\x7fELF two"), m)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag("bulkstream/connector:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/image.tar"
	if err := tarball.WriteToFile(file, ref, one); err != nil {
		t.Fatal(err)
	}
	if err := sameImage(one, file); err != nil {
		t.Errorf("the image's own tarball: %v", err)
	}
	if err := sameImage(two, file); err == nil {
		t.Error("the tarball of another image passed")
	}
}
