// The SDK's public data types. Everything the application receives is one of these, frozen.
export {};
