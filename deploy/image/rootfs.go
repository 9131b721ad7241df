package main

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The user the connector runs as: distroless's "nonroot", so that the
// Kubernetes manifests (runAsUser 65532) fit either image.
const (
	uid      = 65532
	userName = "nonroot"
)

// binaryPath is where the connector lives in the image.
const binaryPath = "/usr/local/bin/connector"

// file is one entry of the image's root file system.
type file struct {
	path string // absolute
	mode int64  // permission bits; a directory has dir set
	dir  bool
	uid  int
	data []byte
}

// rootFS is everything the image holds, on an empty base: the static binary,
// the CA certificates that Go's crypto/x509 reads on Linux, /etc/passwd and
// /etc/group naming the non-root user (so that its home and name resolve),
// and a writable /tmp. It is the same list for the OCI image and for the
// directory the Dockerfile copies, so both build the same file system.
//
// The CA certificates are Mozilla's NSS roots as golang.org/x/crypto's
// x509roots/fallback module ships them, pinned by deploy/image's go.sum, not
// the build machine's: the image's digest does not depend on which
// ca-certificates package the machine has. Roots that NSS constrains (a
// distrust-after date, which a PEM file cannot carry) are left out.
func rootFS(binary []byte) []file {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint == nil {
			pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})
		}
	}
	etc := func(p, data string) file { return file{path: p, mode: 0o644, data: []byte(data)} }
	dir := func(p string, mode int64, owner int) file { return file{path: p, mode: mode, dir: true, uid: owner} }
	files := []file{
		dir("/etc", 0o755, 0),
		etc("/etc/passwd", fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", userName, uid, uid, userName, userName)),
		etc("/etc/group", fmt.Sprintf("root:x:0:\n%s:x:%d:\n", userName, uid)),
		dir("/etc/ssl", 0o755, 0),
		dir("/etc/ssl/certs", 0o755, 0),
		etc("/etc/ssl/certs/ca-certificates.crt", certs.String()),
		dir("/home", 0o755, 0),
		dir("/home/"+userName, 0o700, uid),
		dir("/tmp", 0o1777, 0),
		dir("/usr", 0o755, 0),
		dir("/usr/local", 0o755, 0),
		dir("/usr/local/bin", 0o755, 0),
		{path: binaryPath, mode: 0o755, data: binary},
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.path, b.path) })
	return files
}

// writeLayer writes files as an uncompressed tar layer. Every entry has the
// time mtime and no user or group names, so the same files and time give
// the same bytes.
func writeLayer(w io.Writer, files []file, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.path[1:], Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: mtime, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeDir writes files under dir, for the Dockerfile's COPY. Owners are
// set only when running as root (a Docker build stage is).
func writeDir(dir string, files []file) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(f.path)))
		var err error
		if f.dir {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err == nil {
			err = os.Chmod(p, os.FileMode(f.mode&0o777)|modeBits(f.mode))
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(p, f.uid, f.uid)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// modeBits turns the sticky bit of a tar mode into Go's.
func modeBits(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
