// The policy engine's public surface (expressions, rules, assurance levels) is exported here.
export {};
