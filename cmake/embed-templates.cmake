# Embeds the project templates of `spindle new` (conf/new/**.in) into the
# binary, so an installed spindle needs no data files:
#
#   cmake -DSRC=conf/new -DOUT=build/generated/new_templates.c -P cmake/embed-templates.cmake
#
# Writes one byte array per template and the table sp__new_templates
# (server/master/new.h), each entry named by its path under SRC.
file(GLOB_RECURSE files RELATIVE "${SRC}" "${SRC}/*.in")
list(SORT files)
set(arrays "")
set(table "")
set(i 0)
foreach(f ${files})
  file(READ "${SRC}/${f}" hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR n "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    "
         bytes "${bytes}")
  string(APPEND arrays "static const unsigned char t${i}[] = {\n    ${bytes}0};\n")
  string(APPEND table "    {\"${f}\", t${i}, ${n}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "/* Generated from conf/new/ by cmake/embed-templates.cmake: do not edit. */\n"
  "#include \"server/master/new.h\"\n\n"
  "${arrays}\n"
  "const sp__template sp__new_templates[] = {\n${table}};\n"
  "const size_t sp__new_template_count = ${i};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
