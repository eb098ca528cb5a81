/* `taskrun init [DIR]`: set a folder up for writing runbooks in an editor. */
#ifndef TR_INIT_CMD_H
#define TR_INIT_CMD_H

/* Writes DIR/.luarc.json, pointing the Lua language server at taskrun's definitions, and a
 * starter runbook when DIR holds no .lua file; never overwrites a file (it says so). `argv0`
 * finds the definitions: the source tree's types/ beside a build's binary, else
 * ../share/taskrun/types beside an installed one. Returns 0, or 2 (a bad argument, DIR cannot
 * be written, no definitions found). */
int tr_init_main(int argc, char **argv);

#endif
