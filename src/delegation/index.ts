// The delegation core's public surface (macaroons, credentials, dischargers) is exported here.
export {};
