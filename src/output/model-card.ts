// The README.md model card MergeKit writes (card.py), byte for byte for local models.
import type { MergePlan } from "../plan/types.ts";

/** A reference that names a Hugging Face repository rather than a local path. */
function isHubRef(path: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(path) && !path.startsWith(".");
}

export function modelCard(plan: MergePlan, name: string, localRefs: ReadonlySet<string>): string {
  const base = plan.base;
  const showBase = base !== undefined && plan.method.base !== "unused" && plan.method.cardShowsBase !== false;
  const listed = plan.models.filter((m) => m !== base || !showBase).map((m) => m.ref.text);
  const hub = plan.models.map((m) => m.ref.path).filter((p) => isHubRef(p) && !localRefs.has(p));
  const front = hub.length ? `base_model:\n${hub.map((h) => `- ${h}`).join("\n")}\n` : "base_model: []\n";
  const using = showBase ? ` using ${base!.ref.text} as a base` : "";
  return (
    `---\n${front}library_name: transformers\ntags:\n- mergekit\n- merge\n\n---\n# ${name}\n\n` +
    `This is a merge of pre-trained language models created using [mergekit](https://github.com/cg123/mergekit).\n\n` +
    `## Merge Details\n### Merge Method\n\n` +
    `This model was merged using the ${plan.method.cardName} merge method${using}.\n\n` +
    `### Models Merged\n\nThe following models were included in the merge:\n${listed.map((m) => `* ${m}\n`).join("")}\n` +
    `### Configuration\n\nThe following YAML configuration was used to produce this model:\n\n` +
    "```yaml\n" + plan.config.text + (plan.config.text.endsWith("\n") ? "" : "\n") + "\n```\n"
  );
}
