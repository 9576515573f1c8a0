// Package prometheus holds the shipped Prometheus rules (callscope.rules.yml); its test
// checks them with the real promtool.
package prometheus

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/callscope/callscope/internal/testutil"
)

// TestRules runs `promtool check rules` and `promtool test rules` (the cases in
// callscope.rules.test.yml, every alert firing and not firing, values worked by hand).
func TestRules(t *testing.T) {
	promtool := testutil.NeedTool(t, "promtool")
	for _, f := range []string{"callscope.rules.yml", "callscope.rules.test.yml"} {
		if _, err := os.ReadFile(f); err != nil { // also tells the test cache what the test reads
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"check", "rules", "callscope.rules.yml"},
		{"test", "rules", "callscope.rules.test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
