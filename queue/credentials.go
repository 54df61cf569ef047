package queue

import (
	"github.com/invopop/jsonschema"
)

// credentials are a login whose password comes from the environment or a
// file; smtp, lmtp and nats queues take them.
type credentials struct {
	Username     string `yaml:"username,omitempty" json:"username,omitempty" jsonschema_description:"Login name; needs password_env or password_file."`
	PasswordEnv  string `yaml:"password_env,omitempty" json:"password_env,omitempty" jsonschema_description:"Environment variable holding the password."`
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty" jsonschema_description:"File holding the password."`
}

func (c credentials) validate(add func(string, ...any)) {
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		add("set password_env or password_file, not both")
	}
	if c.Username != "" && c.PasswordEnv == "" && c.PasswordFile == "" {
		add("username needs password_env or password_file")
	}
}

// password reads the password; "" without a username.
func (c credentials) password(baseDir string) (string, error) {
	if c.Username == "" {
		return "", nil
	}
	return readSecret(c.PasswordEnv, c.PasswordFile, baseDir)
}

// JSONSchemaExtend states in the config schema what validate checks across keys.
func (credentials) JSONSchemaExtend(s *jsonschema.Schema) {
	s.AllOf = append(s.AllOf, notBoth("password_env", "password_file"))
}

// notBoth is a schema that refuses two keys both set to non-empty strings.
func notBoth(a, b string) *jsonschema.Schema {
	p := jsonschema.NewProperties()
	p.Set(a, &jsonschema.Schema{MinLength: new(uint64(1))})
	p.Set(b, &jsonschema.Schema{MinLength: new(uint64(1))})
	return &jsonschema.Schema{Not: &jsonschema.Schema{Required: []string{a, b}, Properties: p}}
}
