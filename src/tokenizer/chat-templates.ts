// Amalgam's built-in chat templates (MergeKit's `chat_template:` names), written for each format:
// the turn markers are the format's, the Jinja is ours. Variables: messages, bos_token, eos_token,
// add_generation_prompt.

/** Alpaca: "### Instruction:" / "### Response:" blocks; a system message is a leading paragraph. */
const ALPACA =
  "{{ bos_token }}" +
  "{%- for message in messages %}" +
  "{%- if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}" +
  "{%- elif message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}" +
  "{%- elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}" +
  "{%- endif %}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{ '### Response:\\n' }}{%- endif %}";

/** ChatML: <|im_start|>role\ncontent<|im_end|>\n. */
const CHATML =
  "{%- for message in messages %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}";

/** Llama 3: header ids around the role, <|eot_id|> after each turn. */
const LLAMA3 =
  "{{ bos_token }}" +
  "{%- for message in messages %}" +
  "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

/** Mistral instruct: [INST] user [/INST] answer</s>; a system message joins the first user turn. */
const MISTRAL =
  "{%- if messages and messages[0]['role'] == 'system' %}" +
  "{%- set system = messages[0]['content'] + '\\n\\n' %}{%- set turns = messages[1:] %}" +
  "{%- else %}{%- set system = '' %}{%- set turns = messages %}{%- endif %}" +
  "{{ bos_token }}" +
  "{%- for message in turns %}" +
  "{%- if message['role'] == 'user' %}" +
  "{%- if loop.first %}{{ '[INST] ' + system + message['content'] + ' [/INST]' }}" +
  "{%- else %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{%- endif %}" +
  "{%- elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}" +
  "{%- endif %}" +
  "{%- endfor %}";

/** EXAONE: [|role|]content, [|endofturn|] after system and assistant turns; an empty system turn first. */
const EXAONE =
  "{%- for message in messages %}" +
  "{%- if loop.first and message['role'] != 'system' %}{{ '[|system|][|endofturn|]\\n' }}{%- endif %}" +
  "{{ '[|' + message['role'] + '|]' + message['content'] }}" +
  "{%- if message['role'] == 'user' %}{{ '\\n' }}{%- else %}{{ '[|endofturn|]\\n' }}{%- endif %}" +
  "{%- endfor %}" +
  "{%- if add_generation_prompt %}{{ '[|assistant|]' }}{%- endif %}";

export const BUILTIN_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  alpaca: ALPACA,
  chatml: CHATML,
  llama3: LLAMA3,
  mistral: MISTRAL,
  exaone: EXAONE,
};
