package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func testPlugin(realm, name, version string, module []byte) Plugin {
	manifest := []byte(`{"name":"` + name + `","version":"` + version + `"}`)
	return Plugin{
		Realm: realm, Name: name, Version: version,
		ManifestSHA256: sha256Hex(manifest), Manifest: manifest, ManifestJWS: "h.p.s",
		ModuleSHA256: sha256Hex(module), Module: module,
		Publisher: "did:key:zPub", InstalledBy: "did:key:zOp",
		InstalledAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
	}
}

func TestPluginCRUD(t *testing.T) {
	eachDialect(t, testPluginCRUD)
}

func testPluginCRUD(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	web := testPlugin("default", "web", "1.0.0", []byte("\x00asm v1"))
	notes := testPlugin("default", "notes", "0.1.0", []byte("\x00asm notes"))
	other := testPlugin("other", "web", "9.9.9", []byte("\x00asm other"))
	for _, p := range []Plugin{web, notes, other} {
		if err := db.PutPlugin(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	// Replace web in default with a new version.
	web2 := testPlugin("default", "web", "1.1.0", []byte("\x00asm v2"))
	if err := db.PutPlugin(ctx, web2); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t)

	got, err := db.GetPlugin(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.1.0" || !bytes.Equal(got.Module, web2.Module) || !bytes.Equal(got.Manifest, web2.Manifest) ||
		got.ModuleSHA256 != web2.ModuleSHA256 || got.ManifestJWS != web2.ManifestJWS || !got.InstalledAt.Equal(web2.InstalledAt) {
		t.Errorf("GetPlugin after replace = %+v, want %+v", got, web2)
	}

	for _, tc := range []struct {
		name  string
		realm string
		want  []string // realm/name
	}{
		{"one realm does not list another realm's plugins", "default", []string{"default/notes", "default/web"}},
		{"other realm", "other", []string{"other/web"}},
		{"all realms", "", []string{"default/notes", "default/web", "other/web"}},
		{"unknown realm", "nope", nil},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			list, err := db.ListPlugins(ctx, tc.realm)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range list {
				names = append(names, p.Realm+"/"+p.Name)
				if p.Module != nil {
					t.Errorf("%s/%s: ListPlugins returned module bytes", p.Realm, p.Name)
				}
				if len(p.Manifest) == 0 {
					t.Errorf("%s/%s: ListPlugins dropped the manifest", p.Realm, p.Name)
				}
			}
			if len(names) != len(tc.want) {
				t.Fatalf("ListPlugins(%q) = %v, want %v", tc.realm, names, tc.want)
			}
			for i := range names {
				if names[i] != tc.want[i] {
					t.Fatalf("ListPlugins(%q) = %v, want %v", tc.realm, names, tc.want)
				}
			}
		})
	}

	if err := db.DeletePlugin(ctx, "default", "web"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		realm, name2 string
	}{
		{"deleted plugin is gone", "default", "web"},
		{"plugin of another realm by the same name", "nope", "web"},
		{"never installed", "default", "mail"},
	} {
		t.Run("get "+tc.name, func(t *testing.T) {
			_, err := db.GetPlugin(ctx, tc.realm, tc.name2)
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("GetPlugin = %v, want ErrNotFound", err)
			}
		})
	}
	if err := db.DeletePlugin(ctx, "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeletePlugin = %v, want ErrNotFound", err)
	}
	if _, err := db.GetPlugin(ctx, "other", "web"); err != nil {
		t.Errorf("deleting default/web removed other/web: %v", err)
	}
}

func TestPutPluginRefusesMismatchedHash(t *testing.T) {
	eachDialect(t, testPutPluginRefusesMismatchedHash)
}

func testPutPluginRefusesMismatchedHash(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	good := testPlugin("r", "web", "1.0.0", []byte("module"))
	for _, tc := range []struct {
		name   string
		mutate func(p *Plugin)
	}{
		{"module swapped under the manifest's hash", func(p *Plugin) { p.Module = []byte("evil module") }},
		{"manifest swapped under its hash", func(p *Plugin) { p.Manifest = []byte(`{"name":"web","tools":[]}`) }},
		{"uppercase module hash", func(p *Plugin) { p.ModuleSHA256 = strings.ToUpper(p.ModuleSHA256) }},
		{"missing name", func(p *Plugin) { p.Name = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.mutate(&p)
			if err := db.PutPlugin(ctx, p); !errors.Is(err, ErrInvalid) {
				t.Errorf("PutPlugin = %v, want ErrInvalid", err)
			}
			if _, err := db.GetPlugin(ctx, "r", "web"); !errors.Is(err, ErrNotFound) {
				t.Errorf("refused plugin was stored: %v", err)
			}
		})
	}
}
