// Spectral's oas3-operation-security-defined, for OpenAPI 3.1: every security requirement names a scheme
// of components.securitySchemes, and an OAuth2 requirement only scopes of its flows. The stock rule also
// refuses role names on other schemes, which OpenAPI 3.1 allows (stoplightio/spectral#2643): our ApiKey
// requirements name the key's scope that way.
module.exports = function securityRequirementDefined(requirement, _options, { document, path }) {
  const schemes = (document.data.components || {}).securitySchemes || {};
  const results = [];
  for (const [name, scopes] of Object.entries(requirement || {})) {
    const scheme = schemes[name];
    if (scheme === undefined) {
      results.push({ message: `"${name}" is not a scheme of components.securitySchemes.`, path: [...path, name] });
      continue;
    }
    if (scheme.type !== 'oauth2') continue;
    const known = new Set(Object.values(scheme.flows || {}).flatMap((flow) => Object.keys(flow.scopes || {})));
    scopes.forEach((scope, i) => {
      if (!known.has(scope)) results.push({ message: `"${scope}" is not a scope of ${name}'s flows.`, path: [...path, name, i] });
    });
  }
  return results;
};
