// Validates Kubernetes objects against the official OpenAPI schema through kubernetes-models:
// `node validate.mjs FILE.json`, where FILE holds a JSON array of objects. Prints one line per invalid object and
// exits 1 if there is any; a kind kubernetes-models does not know is an error too, never a pass.
import { readFile } from "node:fs/promises";

const objects = JSON.parse(await readFile(process.argv[2], "utf8"));
let failures = 0;
for (const obj of objects) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const where = `${obj.apiVersion} ${obj.kind} ${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? "?"}`;
  let Model;
  try {
    const module = await import(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
    Model = module[obj.kind];
  } catch (error) {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    console.log(`${where}: no schema for this kind`);
    failures++;
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    console.log(`${where}: ${error.message.replaceAll("\n", " ")}`);
    failures++;
  }
}
console.log(`${objects.length - failures} of ${objects.length} objects valid`);
process.exit(failures === 0 ? 0 : 1);
