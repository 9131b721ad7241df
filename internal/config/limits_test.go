package config

import (
	"testing"

	"go.yaml.in/yaml/v4"
)

func TestReserve(t *testing.T) {
	for in, want := range map[string]Reserve{"r: 5000": {Count: 5000}, "r: 10%": {Ratio: 0.1}, `r: "2.5%"`: {Ratio: 0.025}} {
		var v struct {
			R Reserve `yaml:"r"`
		}
		if err := yaml.Load([]byte(in), &v); err != nil || v.R != want {
			t.Errorf("%s: %+v, %v; want %+v", in, v.R, err, want)
		}
	}
	for _, in := range []string{"r: -1", "r: 120%", "r: lots"} {
		var v struct {
			R Reserve `yaml:"r"`
		}
		if err := yaml.Load([]byte(in), &v); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	if got := (Reserve{Ratio: 0.1}).Of(15000); got != 1500 {
		t.Errorf("10%% of 15000 = %d", got)
	}
}
