// Lint rules of the project (npm test runs them): the layers as import boundaries, the mistakes
// worth catching, and the formatting the code follows. Syntax only (no type information): fast.
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** The libraries: they know nothing of the pipeline, the CLI or the inspect command. */
const LIBRARIES = ['apt', 'artifact', 'bootloader', 'config', 'deb', 'disk', 'fs', 'image', 'mender', 'sbom'];

const boundary = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'work/**', 'deploy/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,js,mjs}'],
    plugins: { '@stylistic': stylistic },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-console': 'off',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-const': 'error',
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/indent': ['error', 2, { SwitchCase: 1, flatTernaryExpressions: true, offsetTernaryExpressions: true, ignoredNodes: ['TemplateLiteral *'] }],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/eol-last': 'error',
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxEOF: 0 }],
      '@stylistic/object-curly-spacing': ['error', 'always'],
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/comma-spacing': 'error',
    },
  },
  // Plain JavaScript (scripts, the bench) has no compiler to name an undefined variable.
  { files: ['**/*.{js,mjs}'], languageOptions: { globals: globals.node }, rules: { 'no-undef': 'error' } },
  // Tests walk documents of arbitrary JSON.
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  // util is the bottom layer: it imports nothing of ours.
  { files: ['src/util/**'], rules: boundary([{ group: ['../*'], message: 'src/util imports nothing from the other layers.' }]) },
  {
    files: LIBRARIES.map((dir) => `src/${dir}/**`),
    rules: boundary([{ group: ['**/pipeline/**', '**/cli/**', '**/inspect/**', '**/board-integrations/**'], message: 'Libraries know nothing of the pipeline, the CLI or the commands.' }]),
  },
  { files: ['src/inspect/**'], rules: boundary([{ group: ['**/pipeline/**', '**/cli/**'], message: 'inspect reads images through the libraries, not the pipeline.' }]) },
  { files: ['src/pipeline/**'], rules: boundary([{ group: ['**/cli/**'], message: 'The pipeline does not know the CLI.' }]) },
  {
    files: ['src/pipeline/integrations/**'],
    rules: boundary([
      { group: ['**/cli/**'], message: 'The pipeline does not know the CLI.' },
      { group: ['**/stages/**', '**/convert.js'], message: 'Integrations are used by the stages, never the other way round.' },
    ]),
  },
);
