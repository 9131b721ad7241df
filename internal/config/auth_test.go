package config

import (
	"slices"
	"strings"
	"testing"
)

// auth returns minimal with its auth section replaced by lines (each
// indented under auth:) and the login URL by loginURL.
func auth(loginURL string, lines ...string) string {
	f := edit("    client_id: id\n    client_secret: s3cr3t\n", "    "+strings.Join(lines, "\n    ")+"\n")
	return strings.Replace(f, "https://acme.my.salesforce.com", loginURL, 1)
}

func TestAuthFlows(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want Auth
	}{
		{"jwt bearer with a key file, on login.salesforce.com", auth("https://login.salesforce.com",
			"flow: jwt_bearer", "client_id: 3MVG9", "username: integration@acme.com", "private_key_file: /etc/bulkstream/jwt.key"),
			Auth{Flow: FlowJWTBearer, ClientID: "3MVG9", Username: "integration@acme.com", PrivateKeyFile: "/etc/bulkstream/jwt.key"}},
		{"jwt bearer with the key as text and an audience", auth("https://acme.my.salesforce.com",
			"flow: jwt_bearer", "client_id: 3MVG9", "username: u@acme.com", "private_key: ${KEY}", "audience: https://test.salesforce.com"),
			Auth{Flow: FlowJWTBearer, ClientID: "3MVG9", Username: "u@acme.com", PrivateKey: "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n", Audience: "https://test.salesforce.com"}},
		{"refresh token without a secret", auth("https://login.salesforce.com",
			"flow: refresh_token", "client_id: 3MVG9", "refresh_token: 5Aep861"),
			Auth{Flow: FlowRefreshToken, ClientID: "3MVG9", RefreshToken: "5Aep861"}},
		{"refresh token with a secret", auth("https://login.salesforce.com",
			"flow: refresh_token", "client_id: 3MVG9", "client_secret: s", "refresh_token: 5Aep861"),
			Auth{Flow: FlowRefreshToken, ClientID: "3MVG9", ClientSecret: "s", RefreshToken: "5Aep861"}},
		{"access token", strings.Replace(auth("https://acme.my.salesforce.com", "flow: access_token", "access_token: 00D!x"),
			"  login_url: https://acme.my.salesforce.com\n", "  instance_url: https://acme.my.salesforce.com\n", 1),
			Auth{Flow: FlowAccessToken, AccessToken: "00D!x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.file), env(map[string]string{"KEY": string(tc.want.PrivateKey)}))
			if err != nil {
				t.Fatal(err)
			}
			if c.Salesforce.Auth != tc.want {
				t.Errorf("auth %#v, want %#v", c.Salesforce.Auth, tc.want)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{"jwt bearer without user and key", auth("https://login.salesforce.com", "flow: jwt_bearer", "client_id: x"), []string{
			"t.yaml:6: salesforce.auth.username: required key is missing",
			"t.yaml:6: salesforce.auth.private_key_file: required key is missing: the jwt_bearer flow signs with the key of private_key_file or private_key",
		}},
		{"jwt bearer with two keys and a secret", auth("https://login.salesforce.com", "flow: jwt_bearer", "client_id: x", "client_secret: s",
			"username: u", "private_key_file: /k.pem", "private_key: PEM", "audience: login.salesforce.com"), []string{
			"t.yaml:9: salesforce.auth.client_secret: is not used by the jwt_bearer flow",
			"t.yaml:12: salesforce.auth.private_key: set private_key_file or private_key, not both",
			`t.yaml:13: salesforce.auth.audience: "login.salesforce.com" is not a URL such as https://login.salesforce.com`,
		}},
		{"refresh token missing", auth("https://login.salesforce.com", "flow: refresh_token", "client_id: x", "username: u"), []string{
			"t.yaml:9: salesforce.auth.username: is not used by the refresh_token flow",
			"t.yaml:6: salesforce.auth.refresh_token: required key is missing",
		}},
		{"access token without an instance URL", auth("https://acme.my.salesforce.com", "flow: access_token", "access_token: t", "client_id: x"), []string{
			"t.yaml:9: salesforce.auth.client_id: is not used by the access_token flow",
			"t.yaml:4: salesforce.instance_url: required key is missing: the access_token flow has no token response to take it from",
		}},
		{"client credentials with keys of other flows", auth("https://acme.my.salesforce.com", "client_id: x", "client_secret: s", "refresh_token: r", "access_token: a"), []string{
			"t.yaml:9: salesforce.auth.refresh_token: is not used by the client_credentials flow",
			"t.yaml:10: salesforce.auth.access_token: is not used by the client_credentials flow",
		}},
	})
}

func TestRouteFieldsAndCheck(t *testing.T) {
	c, err := Parse("t.yaml", []byte(minimal+"    object: Contact\n    fields: [LastName, Account.External_Id__c]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Fields; !slices.Equal(got, []string{"LastName", "Account.External_Id__c"}) || c.Check != CheckError {
		t.Errorf("fields %q, check %q", got, c.Check)
	}
	checkErrors(t, []errorCase{
		{"fields without an object", minimal + "    fields: [Name]\n", []string{
			"t.yaml:11: routes[0].fields: needs routes[0].object: the fields are checked against it",
		}},
		{"bad and repeated fields", minimal + "    object: Account\n    fields: [Name, 'Bad Name', name, Account.Parent.Name]\n", []string{
			`t.yaml:12: routes[0].fields[1]: "Bad Name" is not a field API name such as Name, External_Id__c or Account.External_Id__c`,
			`t.yaml:12: routes[0].fields[2]: "name" is listed twice`,
			`t.yaml:12: routes[0].fields[3]: "Account.Parent.Name" is not a field API name such as Name, External_Id__c or Account.External_Id__c`,
		}},
		{"empty fields", minimal + "    object: Account\n    fields: []\n", []string{
			"t.yaml:12: routes[0].fields: must list at least one field",
		}},
		{"bad check mode", minimal + "check: off\n", []string{
			`t.yaml:11: check: "off" is not one of error, warn`,
		}},
	})
}
